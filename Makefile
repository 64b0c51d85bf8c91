# The two set-up commands: `make dev` runs the platform locally, `make test` runs every test.
# Each installs into .venv first when the requirements changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQS := requirements.txt requirements-dev.txt sidecar/requirements.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | sha1sum | cut -c1-12)

.PHONY: dev test install lint ide web web-check bench-llm fuzz

$(STAMP): $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

dev: install web ide
	$(BIN)/python -m devstack

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint web-check ide
	$(BIN)/python -m pytest

# The web app (web/, React + Vite): npm ci and the build only when its lockfile or sources changed.
web: install
	$(BIN)/python -m devstack.app

# The app's type check, lint and unit tests (vitest); its browser tests run in pytest.
web-check: web
	cd web && npm run typecheck && npm run lint && npm test

# The workspace IDE (ide/, Eclipse Theia): built only when ide/'s inputs changed.
ide:
	bash ide/build.sh

# The LLM gateway against direct calls and LiteLLM's proxy (installed by the bench into
# .venv-litellm, never into .venv); prints the table in docs/llm.md.
bench-llm: install
	$(BIN)/python bench/llm_bench.py --requests 200 --streams 20 --seconds 5

# The long fuzzing run: schemathesis over /api/openapi.json against a fresh local stack, 200
# examples per operation and fuzzing until 15 minutes are spent (FUZZ_EXAMPLES, FUZZ_SECONDS).
FUZZ_EXAMPLES ?= 200
FUZZ_SECONDS ?= 900
fuzz: install
	CODITECT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CODITECT_FUZZ_SECONDS=$(FUZZ_SECONDS) \
		$(BIN)/python -m pytest -s -o timeout=0 tests/fuzz
