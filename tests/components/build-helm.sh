#!/usr/bin/env bash
# Build helm v4.3.2 (helm.sh/helm/v4, served by the Go module proxy) into .cache/bin/helm
# for the tests that render upstream charts with the real helm (tests/roles/test_minio_chart.py).
# The module in tests/components/helm/ pins it (go.mod/go.sum, as the k8s-oscar probe
# built it: ../shared/probes/k8s-oscar/RECIPE.md section 5). Idempotent: a binary that
# reports the pinned version is kept. Caches under .cache/ (the team's shared cache).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${repo}/.cache"
want="v4.3.2"
out="${cache}/bin/helm"
export GOPATH="${cache}/go"
export GOMODCACHE="${cache}/go/mod"
export GOCACHE="${cache}/go/build"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
PATH="/usr/local/go/bin:${PATH}"

if [ -x "${out}" ] && "${out}" version --short 2>/dev/null | grep -q "^${want}"; then
    echo "helm ${want}: ${out}"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build-helm.sh: 'go' not found" >&2; exit 1; }
mkdir -p "${cache}/bin"
cd "${repo}/tests/components/helm"
nice -n 19 go build -o "${out}.part" \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${want}" \
    helm.sh/helm/v4/cmd/helm
mv "${out}.part" "${out}"
echo "helm ${want}: ${out}"
