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

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "${repo}/.cache"
# Physical path: .cache may be a symlink to a shared cache; the Go build cache keys on
# the real paths, so a warm cache is only reused under the same ones.
cache="$(cd -P "${repo}/.cache" && pwd)"
export GOPATH="${cache}/go"
export GOMODCACHE="${cache}/go/mod"
export GOCACHE="${cache}/go/build"
export GOBIN="${cache}/bin"
# Build with the Go installed here; never fetch another toolchain.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
PATH="/usr/local/go/bin:${PATH}"

if ! command -v go >/dev/null 2>&1; then
    echo "build-minio.sh: 'go' not found (expected /usr/local/go/bin/go)" >&2
    exit 1
fi

# Read a pin from versions.yml without needing the venv: the file is plain YAML
# that python3 + PyYAML from the venv can parse; fall back to a line scan.
pin() {  # pin <component> <key>
    local py="${repo}/.venv/bin/python"
    [ -x "${py}" ] || py=python3
    "${py}" - "$1" "$2" "${repo}/versions.yml" <<'PY'
import sys, re
comp, key, path = sys.argv[1:4]
try:
    import yaml
    data = yaml.safe_load(open(path))["oscar_iac_versions"]
    print(data[comp][key])
except ImportError:
    cur = None
    for line in open(path):
        m = re.match(r"^  (\w+):\s*$", line)
        if m:
            cur = m.group(1)
        m = re.match(r'^    (\w+):\s*"?([^"#]+?)"?\s*$', line)
        if m and cur == comp and m.group(1) == key:
            print(m.group(2)); break
PY
}

mkdir -p "${GOBIN}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(minio)

for t in "${targets[@]}"; do
    case "${t}" in
        minio) module="github.com/minio/minio"; version="$(pin minio go_module)" ;;
        mc) module="github.com/minio/mc"; version="$(pin minio_mc go_module)" ;;
        *) echo "build-minio.sh: unknown target '${t}' (expected minio or mc)" >&2; exit 2 ;;
    esac
    stamp="${GOBIN}/.${t}.version"
    if [ -x "${GOBIN}/${t}" ] && [ "$(cat "${stamp}" 2>/dev/null)" = "${version}" ]; then
        echo "build-minio.sh: ${t} ${version} already built"
        continue
    fi
    case "${t}" in
        minio) usual="~2 min cold on 2 cores (5 min while other builds share them), seconds when warm" ;;
        *) usual="~1 min cold, seconds when warm" ;;
    esac
    echo "build-minio.sh: building the ${t} binary for the tests: go install ${module}@${version} (usually ${usual}; nice -n 10) ..."
    start=$(date +%s)
    # A heartbeat: a silent minute looks like a hang.
    ( while sleep 30; do echo "build-minio.sh:   ... still building ${t}: $(( $(date +%s) - start )) s elapsed"; done ) &
    ticker=$!
    rc=0
    # -s -w: no symbol table or DWARF; the link of a binary this size is markedly shorter
    # and the tests never debug MinIO (cmd/link: -s omits the symbol table, -w DWARF).
    nice -n 10 go install -ldflags "-s -w" "${module}@${version}" || rc=$?
    kill "${ticker}" 2>/dev/null || true
    wait "${ticker}" 2>/dev/null || true
    if [ "${rc}" -ne 0 ]; then
        echo "build-minio.sh: building ${t} failed (exit ${rc})" >&2
        exit "${rc}"
    fi
    echo "${version}" > "${stamp}"
    echo "build-minio.sh: ${t} built in $(( $(date +%s) - start )) s"
done
