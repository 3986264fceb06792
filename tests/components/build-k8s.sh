#!/usr/bin/env bash
# Build the real OSCAR manager and a real Kubernetes control plane for the tests, at the
# versions pinned in versions.yml (section oscar_iac_test_components):
#   oscar                 OSCAR manager, from ${OSCAR_IAC_SHARED:-../shared}/vendor/<source>
#                         (sha256 checked first; the Go proxy refuses github.com/grycap/oscar/v4)
#   kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet
#                         k8s.io/kubernetes through the wrapper module tests/components/kube
#   helm                  helm.sh/helm/v4 through the wrapper module tests/components/helm
#   etcd                  Debian's etcd-server, unpacked (apt-get download + dpkg -x; no install)
# Every binary is linked with -s -w (no symbol table, no DWARF: a shorter link on 2 cores;
# nobody debugs these binaries in a test).
# Outputs go to .cache/bin/ with a version stamp each (.cache/bin/.<name>.version); a binary
# whose stamp matches its pin is kept. How these build and run here, with the measured times:
# ../shared/probes/k8s-oscar/RECIPE.md.
#
# Usage: tests/components/build-k8s.sh [target ...]   (default: all of the above)
set -euo pipefail

me=build-k8s.sh
# shellcheck source=tests/components/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
shared="${OSCAR_IAC_SHARED:-$(dirname "${repo}")/shared}"
mkdir -p "${bin}"

stamped() {  # stamped <name> <stamp>: the binary exists and was built from this pin
    [ -x "${bin}/$1" ] && [ "$(cat "${bin}/.$1.version" 2>/dev/null)" = "$2" ]
}

build_oscar() {
    local version sha src want have dir
    version="$(pin oscar_manager version)"
    sha="$(pin oscar_manager sha256)"
    src="${shared}/vendor/$(pin oscar_manager source)"
    stamped oscar "${version} ${sha}" && { say "oscar ${version} already built"; return; }
    [ -f "${src}" ] || die "${src} not found (the OSCAR source snapshot; set OSCAR_IAC_SHARED)"
    have="$(sha256sum "${src}" | cut -d' ' -f1)"
    want="${sha}"
    [ "${have}" = "${want}" ] || die "${src}: sha256 ${have}, versions.yml pins ${want}"
    dir="${cache}/src/oscar-${version}"
    rm -rf "${dir}"
    mkdir -p "${dir}"
    tar -xzf "${src}" -C "${dir}"
    # OSCAR is built in its own source folder, as upstream's Dockerfile does (`go build .`).
    ( cd "${dir}" && timed "oscar ${version}" "~100 s cold, link only when warm" \
        go build -ldflags "-s -w" -o "${bin}/oscar" . )
    echo "${version} ${sha}" > "${bin}/.oscar.version"
}

build_kube() {  # build_kube <cmd>
    local version ldf
    version="$(pin kubernetes version)"
    stamped "$1" "${version}" && { say "$1 ${version} already built"; return; }
    check_wrapper "${repo}/tests/components/kube" k8s.io/kubernetes "${version}"
    local minor="${version#v1.}"; minor="${minor%%.*}"
    ldf="-s -w -X k8s.io/component-base/version.gitVersion=${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
    local usual="~40 s"
    [ "$1" = kube-apiserver ] && usual="~200 s cold (7 min while CI shares the cores), ~15 s warm"
    ( cd "${repo}/tests/components/kube" && timed "$1 ${version}" "${usual}" \
        go build -o "${bin}/$1" -ldflags "${ldf}" "k8s.io/kubernetes/cmd/$1" )
    echo "${version}" > "${bin}/.$1.version"
}

build_helm() {
    local version
    version="$(pin helm version)"
    stamped helm "${version}" && { say "helm ${version} already built"; return; }
    check_wrapper "${repo}/tests/components/helm" helm.sh/helm/v4 "${version}"
    ( cd "${repo}/tests/components/helm" && timed "helm ${version}" "~90 s cold, link only when warm" \
        go build -ldflags "-s -w" -o "${bin}/helm" helm.sh/helm/v4/cmd/helm )
    echo "${version}" > "${bin}/.helm.version"
}

build_etcd() {
    local pkg version deb root
    pkg="$(pin etcd debian_package)"
    version="$(pin etcd version)"
    stamped etcd "${version}" && { say "etcd ${version} already unpacked"; return; }
    deb="${cache}/debs"
    root="${cache}/debs/${pkg}-${version}"
    mkdir -p "${deb}"
    say "downloading Debian ${pkg}=${version} (a few seconds)"
    ( cd "${deb}" && apt-get download "${pkg}=${version}" >/dev/null )
    rm -rf "${root}"
    dpkg -x "${deb}/${pkg}_${version//:/%3a}_"*.deb "${root}"
    install -m 0755 "${root}/usr/bin/etcd" "${bin}/etcd"
    echo "${version}" > "${bin}/.etcd.version"
    say "etcd ${version} unpacked"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] \
    || targets=(oscar kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet helm etcd)
total_start=$(date +%s)
for t in "${targets[@]}"; do
    case "${t}" in
        oscar) build_oscar ;;
        kube-apiserver | kubectl | kube-controller-manager | kube-scheduler | kubelet) build_kube "${t}" ;;
        helm) build_helm ;;
        etcd) build_etcd ;;
        *) die "unknown target '${t}' (expected oscar, kube-apiserver, kubectl, kube-controller-manager, kube-scheduler, kubelet, helm or etcd)" ;;
    esac
done
say "done in $(( $(date +%s) - total_start )) s (binaries in ${bin})"
