# The two set-up commands: `make dev` runs the platform locally, `make test` runs every test.
# Each installs into .venv first when the requirements changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQS := requirements.txt requirements-dev.txt sidecar/requirements.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQS) | sha1sum | cut -c1-12)

.PHONY: dev test install lint fuzz

$(STAMP): $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/python -m devstack

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# The long fuzzing run: schemathesis over /api/openapi.json against a fresh local stack, 200
# examples per operation and fuzzing until 15 minutes are spent (FUZZ_EXAMPLES, FUZZ_SECONDS).
FUZZ_EXAMPLES ?= 200
FUZZ_SECONDS ?= 900
fuzz: install
	CODITECT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CODITECT_FUZZ_SECONDS=$(FUZZ_SECONDS) \
		$(BIN)/python -m pytest -s -o timeout=0 tests/fuzz
