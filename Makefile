# Every target creates .venv itself; nothing needs to be installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.runtime
SITE ?= inventories/local
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv demo test lint unit system-deps clean bench components

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The demo needs only the package; tests add the dev tools (Ansible, Molecule, linters).
# uv (a PyPI wheel) installs in seconds what pip takes a minute for; UV_NATIVE_TLS
# makes it trust the system's CA store, as pip does here.
# --compile-bytecode: the CLI starts from .pyc files even where PYTHONDONTWRITEBYTECODE is set
# (without them `outputs` takes ~1.5 s instead of ~0.5 s: every import is compiled again).
UV := UV_NATIVE_TLS=1 $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python

$(RUNTIME_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv
	$(UV) -e .
	@touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP) pyproject.toml requirements-test.txt
	$(UV) -e '.[dev]' -r requirements-test.txt
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv with oscar-iac and its test tools

system-deps: ## Install the Debian packages the tests use (podman, debootstrap, ...)
	bash .ci/install-system.sh

demo: $(RUNTIME_STAMP) ## Main job: deploy the embedded default site (real local IM, Dummy cloud)
	$(BIN)/oscar-iac up $(SITE)

lint: $(STAMP) ## ruff, mypy, yamllint --strict, ansible-lint (production profile, offline)
	$(BIN)/ruff check tools tests benchmarks
	$(BIN)/ruff format --check tools tests benchmarks
	$(BIN)/mypy
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline --profile production roles playbooks molecule

unit: $(STAMP) ## Fast tests only (no podman, MinIO, Molecule)
	$(BIN)/pytest -m 'not slow' -q

# The real components the tests run, built from source into .cache/bin (kept when their
# version stamp matches versions.yml): MinIO, the OSCAR manager, Kubernetes, helm, etcd,
# and the node's parts when tests/components/build-node.sh exists. Cold: ~10 min on 2 cores.
components: $(STAMP) ## Build the real components the tests run (cached in .cache/bin)
	bash tests/components/build-minio.sh
	bash tests/components/build-k8s.sh
	@if [ -f tests/components/build-node.sh ]; then bash tests/components/build-node.sh; fi

# Components first: the builds print their progress here instead of inside a silent test.
test: system-deps $(STAMP) lint ## The whole test suite (what CI runs)
	$(MAKE) components
	$(BIN)/pytest -q

bench: $(STAMP) ## Run every benchmark in benchmarks/
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Remove the venv and caches (keeps .cache/ downloads)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
