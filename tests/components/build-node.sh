#!/usr/bin/env bash
# Build the parts of the real Kubernetes node the tests run (tests/components/node_fixture.py),
# at the versions pinned in versions.yml (section oscar_iac_test_components):
#   containerd containerd-shim-runc-v2 ctr   github.com/containerd/containerd/v2, wrapper
#                                            module tests/components/node/containerd
#   runc                                     github.com/opencontainers/runc (cgo), wrapper
#                                            module tests/components/node/runc
#   cni                                      github.com/containernetworking/plugins: bridge,
#                                            loopback, host-local, portmap into .cache/bin/cni/
#   registry                                 github.com/distribution/distribution/v3 (an OCI
#                                            registry: OSCAR's job Pods pull with policy
#                                            Always), wrapper module tests/components/node/registry
#   pause-image                              the Pods' sandbox image, from tests/images/pause
#                                            (a static Go program; no registry is reachable),
#                                            saved as .cache/images/pause.oci.tar
#   runner-image                             the DEEPaaS demo model image
#                                            (tests/images/build-runner-image.sh), saved as
#                                            .cache/images/runner.oci.tar
#   supervisor                               faas-supervisor (what OSCAR runs in job Pods),
#                                            from tests/components/vendor/, into
#                                            .cache/supervisor/<version>/supervisor
# kubelet and kube-scheduler come from tests/components/build-k8s.sh (same k8s.io/kubernetes
# wrapper module as the control plane). Outputs carry a version stamp (.cache/bin/.<name>.version,
# .cache/images/.<name>.version) and are kept when it matches.
#
# Usage: tests/components/build-node.sh [target ...]   (default: all of the above)
set -euo pipefail

me=build-node.sh
# shellcheck source=tests/components/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
images="${cache}/images"
wrappers="${repo}/tests/components/node"
mkdir -p "${bin}/cni" "${images}"

stamped() {  # stamped <path> <stamp-file> <stamp>: the output exists and was built from this pin
    [ -e "$1" ] && [ "$(cat "$2" 2>/dev/null)" = "$3" ]
}

build_containerd() {
    local version
    version="$(pin containerd version)"
    if stamped "${bin}/containerd" "${bin}/.containerd.version" "${version}" \
        && [ -x "${bin}/containerd-shim-runc-v2" ] && [ -x "${bin}/ctr" ]; then
        say "containerd ${version} already built"; return
    fi
    check_wrapper "${wrappers}/containerd" github.com/containerd/containerd/v2 "${version}"
    ( cd "${wrappers}/containerd" && timed "containerd, containerd-shim-runc-v2, ctr ${version}" \
        "~60 s cold" go build -ldflags "-s -w" -o "${bin}/" \
        github.com/containerd/containerd/v2/cmd/containerd \
        github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr )
    echo "${version}" > "${bin}/.containerd.version"
}

build_runc() {
    local version
    version="$(pin runc version)"
    # The stamp names the build tag: a runc without seccomp cannot start a Pod's sandbox
    # (containerd gives the pause container the runtime/default profile: "seccomp: config
    # provided but seccomp not supported"). Upstream builds with BUILDTAGS=seccomp (Makefile).
    stamped "${bin}/runc" "${bin}/.runc.version" "${version} seccomp" \
        && { say "runc ${version} (seccomp) already built"; return; }
    check_wrapper "${wrappers}/runc" github.com/opencontainers/runc "${version}"
    command -v gcc >/dev/null 2>&1 || die "runc needs cgo: gcc not found"
    if [ ! -f /usr/include/seccomp.h ]; then
        say "installing Debian's libseccomp-dev (runc's seccomp support links it)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp-dev >/dev/null \
            || die "runc needs libseccomp-dev (apt-get install libseccomp-dev failed)"
    fi
    ( cd "${wrappers}/runc" && CGO_ENABLED=1 timed "runc ${version} (cgo, -tags seccomp)" "~20 s" \
        go build -tags seccomp -o "${bin}/runc" github.com/opencontainers/runc )
    echo "${version} seccomp" > "${bin}/.runc.version"
}

build_cni() {
    local version p
    version="$(pin cni_plugins version)"
    if stamped "${bin}/cni/bridge" "${bin}/cni/.version" "${version}" && [ -x "${bin}/cni/loopback" ] \
        && [ -x "${bin}/cni/host-local" ] && [ -x "${bin}/cni/portmap" ]; then
        say "CNI plugins ${version} already built"; return
    fi
    check_wrapper "${wrappers}/cni" github.com/containernetworking/plugins "${version}"
    ( cd "${wrappers}/cni" && timed "CNI plugins ${version} (bridge, loopback, host-local, portmap)" \
        "~10 s" go build -ldflags "-s -w" -o "${bin}/cni/" \
        github.com/containernetworking/plugins/plugins/main/bridge \
        github.com/containernetworking/plugins/plugins/main/loopback \
        github.com/containernetworking/plugins/plugins/ipam/host-local \
        github.com/containernetworking/plugins/plugins/meta/portmap )
    echo "${version}" > "${bin}/cni/.version"
}

build_registry() {
    local version
    version="$(pin registry version)"
    # The stamp names the variant: our main (tests/components/node/registry/main.go) links
    # the filesystem storage driver only.
    stamped "${bin}/registry" "${bin}/.registry.version" "${version} filesystem" \
        && { say "registry ${version} already built"; return; }
    check_wrapper "${wrappers}/registry" github.com/distribution/distribution/v3 "${version}"
    ( cd "${wrappers}/registry" && timed "registry (distribution) ${version}" "~1 min cold" \
        go build -ldflags "-s -w" -o "${bin}/registry" . )
    echo "${version} filesystem" > "${bin}/.registry.version"
}

# A source hash: an image is rebuilt when what it is built from changes.
src_hash() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

build_pause_image() {
    local ref hash ctx
    ref="$(pin pause_image ref)"
    hash="$(src_hash "${repo}/tests/images/pause")"
    stamped "${images}/pause.oci.tar" "${images}/.pause.version" "${ref} ${hash}" \
        && { say "pause image ${ref} already built"; return; }
    # shellcheck source=tests/images/podman-env.sh
    source "${repo}/tests/images/podman-env.sh"
    ctx="$(mktemp -d)"
    cp "${repo}/tests/images/pause/Containerfile" "${ctx}/"
    ( cd "${repo}/tests/images/pause" && timed "pause program" "~5 s" \
        go build -trimpath -ldflags "-s -w" -o "${ctx}/pause" . )
    say "building image ${ref} (podman, FROM scratch)"
    podman build --runtime runc -q -t "${ref}" -f "${ctx}/Containerfile" "${ctx}" >/dev/null
    rm -rf "${ctx}"
    rm -f "${images}/pause.oci.tar"
    podman save -q --format oci-archive -o "${images}/pause.oci.tar" "${ref}"
    echo "${ref} ${hash}" > "${images}/.pause.version"
    say "pause image saved to ${images}/pause.oci.tar"
}

build_runner_image() {
    local ref id
    local py="${repo}/.venv/bin/python"
    [ -x "${py}" ] || py=python3
    # The name tests/runner/fixtures.py and build-runner-image.sh use by default.
    ref="localhost/oscar-iac-runner-demo:$("${py}" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["oscar_iac_versions"]["deepaas"]["version"])' "${repo}/versions.yml")"
    # build-runner-image.sh is idempotent (a source-hash label); the saved archive is
    # stamped with the image id, so a rebuilt image is saved again.
    bash "${repo}/tests/images/build-runner-image.sh" "${ref}"
    # shellcheck source=tests/images/podman-env.sh
    source "${repo}/tests/images/podman-env.sh"
    id="$(podman image inspect --format '{{.Id}}' "${ref}")"
    stamped "${images}/runner.oci.tar" "${images}/.runner.version" "${ref} ${id}" \
        && { say "runner image ${ref} already saved"; return; }
    rm -f "${images}/runner.oci.tar"
    say "saving ${ref} (podman save --format oci-archive; ~20 s)"
    podman save -q --format oci-archive -o "${images}/runner.oci.tar" "${ref}"
    echo "${ref} ${id}" > "${images}/.runner.version"
    say "runner image saved to ${images}/runner.oci.tar"
}

# The FaaS Supervisor that OSCAR v4.1.2 runs in every job Pod as /oscar/bin/supervisor
# (pkg/types/service.go: VolumePath "/oscar/bin", SupervisorName "supervisor"), read from the
# PVC `oscar-pvc` that chart 4.1.2's populate-volume-job fills from GitHub's release of
# faas-supervisor `volume.supervisorVersion` (1.6.2). Neither GitHub nor ghcr.io is reachable
# and PyPI's newest faas-supervisor is 1.5.8, so the tag's source travels in
# tests/components/vendor/ and is built the way upstream's release workflow builds it
# (.github/workflows/main.yaml: `pyinstaller --onefile ... faassupervisor/supervisor.py`),
# inside the project's Debian 12 base image so that the binary's glibc matches the job images.
build_supervisor() {
    local version src hash out ca
    version="$(pin faas_supervisor version)"
    src="${repo}/tests/components/vendor/$(pin faas_supervisor source)"
    hash="$(sha256sum "${src}" | cut -d' ' -f1)"
    [ "${hash}" = "$(pin faas_supervisor sha256)" ] || die "${src}: sha256 ${hash} is not the one versions.yml pins"
    out="${cache}/supervisor/${version}"
    stamped "${out}/supervisor" "${out}/.version" "${version} ${hash}" \
        && { say "faas-supervisor ${version} already built"; return; }
    bash "${repo}/tests/images/build-base-image.sh"
    # shellcheck source=tests/images/podman-env.sh
    source "${repo}/tests/images/podman-env.sh"
    ca=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
    mkdir -p "${out}"
    rm -f "${out}/supervisor"
    timed "faas-supervisor ${version} (PyInstaller onefile in the Debian 12 base image)" "~2 min" \
        podman run --rm --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
        -v "${src}:/src.tar.gz:ro" -v "${ca}:/host-ca.crt:ro" -v "${out}:/out" \
        localhost/oscar-iac-debian12:latest /bin/sh -ec "
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                python3-venv python3-distutils libpython3.11 binutils >/dev/null
            python3 -m venv /build
            /build/bin/pip install -q --no-cache-dir --progress-bar off --cert /host-ca.crt \
                pyinstaller==$(pin faas_supervisor pyinstaller) $(pin faas_supervisor requirements)
            mkdir /src && tar -xzf /src.tar.gz -C /src --strip-components=1 && cd /src
            /build/bin/pyinstaller --log-level WARN --onefile -n supervisor faassupervisor/supervisor.py
            install -m 0755 dist/supervisor /out/supervisor"
    echo "${version} ${hash}" > "${out}/.version"
    say "faas-supervisor ${version} built: ${out}/supervisor"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(containerd runc cni registry pause-image runner-image supervisor)
total_start=$(date +%s)
for t in "${targets[@]}"; do
    case "${t}" in
        containerd) build_containerd ;;
        runc) build_runc ;;
        cni) build_cni ;;
        registry) build_registry ;;
        pause-image) build_pause_image ;;
        runner-image) build_runner_image ;;
        supervisor) build_supervisor ;;
        *) die "unknown target '${t}' (expected containerd, runc, cni, registry, pause-image, runner-image or supervisor)" ;;
    esac
done
say "done in $(( $(date +%s) - total_start )) s"
