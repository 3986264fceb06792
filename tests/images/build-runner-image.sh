#!/usr/bin/env bash
# Builds the local runner's test image: the project's Debian 12 base image +
# DEEPaaS (version from versions.yml) + the demo model (tests/images/runner/demo_model),
# trained at build time.
#
# Usage: tests/images/build-runner-image.sh [IMAGE]
#        (default localhost/oscar-iac-runner-demo:<deepaas version>)
# Idempotent: does nothing when the image exists and was built from the same sources
# (FORCE=1 rebuilds). Builds the base
# image first when it is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/images/podman-env.sh
source "$here/podman-env.sh"

py=$repo/.venv/bin/python; [ -x "$py" ] || py=python3
deepaas=$("$py" - "$repo/versions.yml" <<'PY'
import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["oscar_iac_versions"]["deepaas"]["version"])
PY
)
IMAGE=${1:-localhost/oscar-iac-runner-demo:$deepaas}

# The image carries a hash of what it is built from: a changed demo model or
# Containerfile rebuilds it, an unchanged one is reused.
source_hash=$(cd "$here/runner" && find . -type f ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | { cat; echo "deepaas $deepaas"; } | sha256sum | cut -c1-16)
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE" \
   && [ "$(podman image inspect --format '{{ index .Labels "io.oscar-iac.source-hash" }}' "$IMAGE")" = "$source_hash" ]; then
  echo "image $IMAGE exists (source $source_hash)"
  exit 0
fi
bash "$here/build-base-image.sh"

ca=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$ca" ] || { echo "no CA bundle at $ca (set HOST_CA_BUNDLE)" >&2; exit 1; }
echo "building $IMAGE (DEEPaaS $deepaas; a few minutes the first time)"
podman build --runtime runc \
  --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  --secret "id=host-ca,src=$ca" \
  --build-arg "DEEPAAS_VERSION=$deepaas" \
  --label "io.oscar-iac.source-hash=$source_hash" \
  -t "$IMAGE" -f "$here/runner/Containerfile" "$here/runner"
echo "built $IMAGE"
