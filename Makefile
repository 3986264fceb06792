# Every target creates .venv itself; nothing needs to be installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.runtime
SITE ?= inventories/local
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv demo test lint lint-code unit system-deps clean bench components mutants

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

lint: lint-code ## ruff, mypy, yamllint --strict, ansible-lint (production profile, offline)
	$(BIN)/ansible-lint --offline --profile production roles playbooks molecule

lint-code: $(STAMP) ## ruff, mypy, yamllint --strict (what `make test` lints before the tests)
	$(BIN)/ruff check tools tests benchmarks
	$(BIN)/ruff format --check tools tests benchmarks
	$(BIN)/mypy
	$(BIN)/yamllint --strict .

unit: $(STAMP) ## Fast tests only (no podman, MinIO, Molecule)
	$(BIN)/pytest -m 'not slow and not real_oscar and not real_node' -q

# The real components the tests run, built from source into .cache/bin (kept when their
# version stamp matches versions.yml): MinIO, the OSCAR manager, Kubernetes, helm, etcd,
# and the node's parts when tests/components/build-node.sh exists. Cold: ~10 min on 2 cores.
components: $(STAMP) ## Build the real components the tests run (cached in .cache/bin)
	bash tests/components/build-minio.sh
	bash tests/components/build-k8s.sh
	@if [ -f tests/components/build-node.sh ]; then bash tests/components/build-node.sh; fi

# Components first: the builds print their progress here instead of inside a silent test.
# Each stage says how long it took, and pytest lists its slowest tests (CI's time budget).
test: ## The whole test suite (what CI runs)
	@bash .ci/stage system-deps $(MAKE) --no-print-directory system-deps
	@bash .ci/stage venv $(MAKE) --no-print-directory venv
	@# ansible-lint runs once, inside pytest (tests/roles/test_lint_and_syntax.py: production
	@# profile and no warning at all), instead of twice (~1 min on 2 cores).
	@bash .ci/stage lint $(MAKE) --no-print-directory lint-code
	@bash .ci/stage components $(MAKE) --no-print-directory components
	@# Two pytest streams side by side (.ci/pytest-two-streams says why and how they split).
	@bash .ci/stage pytest bash .ci/pytest-two-streams

mutants: $(STAMP) ## Mutation testing of the modules that can lose data or leak (tests/mutation/scope.toml)
	$(BIN)/python tests/mutation/run_mutants.py

bench: $(STAMP) ## Run every benchmark in benchmarks/
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Remove the venv and caches (keeps .cache/ downloads)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
