#!/usr/bin/env bash
# Debian packages the test suite needs. Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(podman runc crun fuse-overlayfs slirp4netns uidmap catatonit debootstrap
      containernetworking-plugins netavark aardvark-dns iptables sshpass openssh-client
      rsync curl unzip maven)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# NiFi flowcheck (tests/nifi/flowcheck) needs a JDK 21+: this machine kind ships Temurin 25 under
# /usr/lib/jvm beside Debian's OpenJDK 17 (bookworm has no JDK 21 package); tests/nifi/java.py finds it.
if ! grep -qsE '^JAVA_VERSION="(2[1-9]|[3-9][0-9])' /usr/lib/jvm/*/release ${JAVA_HOME:+"$JAVA_HOME/release"}; then
  echo "no JDK 21+ found under /usr/lib/jvm or JAVA_HOME: the NiFi flowcheck tests need one" >&2
  exit 1
fi
