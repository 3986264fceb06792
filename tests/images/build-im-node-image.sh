#!/usr/bin/env bash
# Builds the node image the IM tests contextualize (tests/im_nodes): the project's
# Debian 12 image (build-base-image.sh) plus what IM installs on a node from the
# internet, provided offline (see im-node/prepare.sh and im-node/micromamba), and a
# login user with passwordless sudo. No registry: `podman run` + `podman commit`.
#
# Usage: tests/images/build-im-node-image.sh [IMAGE] [LOGIN_USER]
#        (default localhost/imnodes-node:latest, cloudadm)
# Idempotent: does nothing when IMAGE carries this build's content hash; FORCE=1 rebuilds.
set -euo pipefail
IMAGE=${1:-localhost/imnodes-node:latest}
LOGIN_USER=${2:-cloudadm}
BASE=${BASE_IMAGE:-localhost/oscar-iac-debian12:latest}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/podman-env.sh
source "$here/podman-env.sh"

build=$( (cat "$0" "$here/im-node/prepare.sh" "$here/im-node/micromamba"; echo "$LOGIN_USER";
          podman image inspect --format '{{ .Id }}' "$BASE" 2>/dev/null) | sha256sum | cut -c1-16)
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE" &&
   [ "$(podman image inspect --format '{{ index .Labels "oscar-iac.build" }}' "$IMAGE")" = "$build" ]; then
  echo "image $IMAGE exists"
  exit 0
fi
podman image exists "$BASE" || bash "$here/build-base-image.sh" "$BASE"

# IM's Ansible and the agent's modules, as wheels for the node's Python (3.11).
wheels=$repo/.cache/im-tooling-wheels
if ! ls "$wheels"/ansible-9.5.1-*.whl >/dev/null 2>&1; then
  mkdir -p "$wheels"
  python3 -m pip download --quiet --dest "$wheels" --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any \
    ansible==9.5.1 paramiko psutil pyyaml jmespath scp requests packaging
fi

name=imnodes-build-$$
trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
podman run --name "$name" --runtime runc \
  -v "$wheels:/wheels:ro" -v "$here/im-node:/build:ro" \
  "$BASE" sh /build/prepare.sh "$LOGIN_USER"
podman commit --quiet --change "LABEL oscar-iac.build=$build" --change 'CMD ["/sbin/init"]' \
  "$name" "$IMAGE" >/dev/null
echo "built $IMAGE"
