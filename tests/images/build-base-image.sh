#!/usr/bin/env bash
# Builds the Debian 12 (bookworm) base image the tests run in: systemd as PID 1,
# python3 for Ansible. No registry can be reached here, so the image is made with
# debootstrap from the machine's Debian mirror and `podman import`ed.
#
# Usage: tests/images/build-base-image.sh [IMAGE]   (default localhost/oscar-iac-debian12:latest)
# Idempotent: does nothing when the image exists with this script's content hash
# (label oscar-iac.build); a changed script rebuilds it; FORCE=1 always rebuilds.
set -euo pipefail
IMAGE=${1:-localhost/oscar-iac-debian12:latest}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/images/podman-env.sh
source "$here/podman-env.sh"

build=$(sha256sum "$0" | cut -c1-16)
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE" &&
   [ "$(podman image inspect --format '{{ index .Labels "oscar-iac.build" }}' "$IMAGE")" = "$build" ]; then
  echo "image $IMAGE exists"
  exit 0
fi

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^URIs: *http[^ ]+/debian/?$' /etc/apt/sources.list.d/* 2>/dev/null | head -1 | awk '{print $2}')
  mirror=${mirror:-http://deb.debian.org/debian}
fi
rootfs=$(mktemp -d /var/tmp/oscar-iac-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase \
  --include=python3,python3-apt,systemd,systemd-sysv,dbus,sudo,procps,iproute2,ca-certificates,iputils-ping,netbase,openssh-server \
  bookworm "$rootfs" "$mirror" >/dev/null
# No units that need hardware or a console in a container.
for unit in getty@tty1.service systemd-udevd.service systemd-remount-fs.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
echo "oscar-iac-test" > "$rootfs/etc/hostname"
# Ansible reaches test hosts over SSH as it reaches real ones (key-only root login).
mkdir -p "$rootfs/root/.ssh" && chmod 700 "$rootfs/root/.ssh"
tar -C "$rootfs" -c . | podman import --change "LABEL oscar-iac.build=$build" - "$IMAGE" >/dev/null
echo "built $IMAGE"
