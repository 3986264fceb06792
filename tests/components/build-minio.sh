#!/usr/bin/env bash
# Build the real MinIO server (and, on request, the `mc` client) from the Go module
# proxy, at the versions pinned in versions.yml (oscar_iac_versions.minio.go_module and
# oscar_iac_versions.minio_mc.go_module). Idempotent: an existing binary whose version
# stamp matches the pin is kept. Everything is cached under .cache/ (gitignored), so CI
# can cache it between runs.
#
# Usage: tests/components/build-minio.sh [minio] [mc]     (default: minio; no test runs `mc`,
# the client is built on request for someone debugging a test by hand)
#
# MinIO tags its releases RELEASE.<date>, which are not semantic versions; the module
# proxy serves them as pseudo-versions (v0.0.0-<commit time>-<commit>), which is what
# versions.yml pins.
set -euo pipefail

me=build-minio.sh
# The cache folder, Go's environment, say/die and the build step with its heartbeat.
# shellcheck source=tests/components/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export GOBIN="${bin}"

# minio_pin <component> <key>: oscar_iac_versions.<component>.<key> (the roles' section of
# versions.yml, where MinIO's pins live; lib.sh's `pin` reads the test components').
minio_pin() {
    local py="${repo}/.venv/bin/python"
    [ -x "${py}" ] || py=python3
    "${py}" - "$1" "$2" "${repo}/versions.yml" <<'PY'
import sys
import yaml
comp, key, path = sys.argv[1:4]
with open(path) as f:
    print(yaml.safe_load(f)["oscar_iac_versions"][comp][key])
PY
}

mkdir -p "${GOBIN}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(minio)

for t in "${targets[@]}"; do
    case "${t}" in
        minio) module="github.com/minio/minio"; version="$(minio_pin minio go_module)"
               usual="~3 min cold on 2 cores, seconds when warm" ;;
        mc) module="github.com/minio/mc"; version="$(minio_pin minio_mc go_module)"
            usual="~1 min cold, seconds when warm" ;;
        *) echo "${me}: unknown target '${t}' (expected minio or mc)" >&2; exit 2 ;;
    esac
    stamp="${GOBIN}/.${t}.version"
    if [ -x "${GOBIN}/${t}" ] && [ "$(cat "${stamp}" 2>/dev/null)" = "${version}" ]; then
        say "${t} ${version} already built"
        continue
    fi
    # -s -w: no symbol table or DWARF; the link of a binary this size is markedly shorter
    # and the tests never debug MinIO (cmd/link: -s omits the symbol table, -w DWARF).
    timed "${t} (go install ${module}@${version})" "${usual}" \
        go install -ldflags "-s -w" "${module}@${version}"
    echo "${version}" > "${stamp}"
done
