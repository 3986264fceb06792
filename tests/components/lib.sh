# Shared by tests/components/build-k8s.sh and build-node.sh (sourced, never run): the
# physical cache folder and Go's environment, messages, pins from versions.yml
# (oscar_iac_test_components), a build step with a heartbeat, and the wrapper-module check.
# The sourcing script sets `me` (its name, for messages) first.
# shellcheck shell=bash

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "${repo}/.cache"
# Physical path: .cache may be a symlink to a shared cache; the Go build cache keys on
# the real paths, so a warm cache is only reused under the same ones.
cache="$(cd -P "${repo}/.cache" && pwd)"
export GOPATH="${cache}/go"
export GOMODCACHE="${cache}/go/mod"
export GOCACHE="${cache}/go/build"
export GOFLAGS="-mod=mod"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
PATH="/usr/local/go/bin:${PATH}"
bin="${cache}/bin"

say() { echo "${me}: $*"; }
die() { echo "${me}: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "'go' not found (expected /usr/local/go/bin/go)"

# pin <key> <field>: oscar_iac_test_components.<key>.<field> from versions.yml.
pin() {
    local py="${repo}/.venv/bin/python"
    [ -x "${py}" ] || py=python3
    "${py}" - "$1" "$2" "${repo}/versions.yml" <<'PY'
import sys
import yaml
key, field, path = sys.argv[1:4]
with open(path) as f:
    print(yaml.safe_load(f)["oscar_iac_test_components"][key][field])
PY
}

# timed <name> <usual> <cmd...>: run a build, printing what, the usual time and a heartbeat
# every 30 s (a silent minute looks like a hang).
timed() {
    local name=$1 usual=$2; shift 2
    local start; start=$(date +%s)
    say "building ${name} (usually ${usual}; nice -n 10) ..."
    ( while sleep 30; do say "  ... still building ${name}: $(( $(date +%s) - start )) s elapsed"; done ) &
    local ticker=$!
    local rc=0
    nice -n 10 "$@" || rc=$?
    kill "${ticker}" 2>/dev/null || true
    wait "${ticker}" 2>/dev/null || true
    [ "${rc}" -eq 0 ] || die "building ${name} failed (exit ${rc})"
    say "${name} built in $(( $(date +%s) - start )) s"
}

# The wrapper module must require exactly the pinned version (go.mod is the build's truth).
check_wrapper() {  # check_wrapper <dir> <module> <version>
    grep -qE "^require $2 $3\$" "$1/go.mod" \
        || die "$1/go.mod does not require $2 $3 (versions.yml); update both together"
}
