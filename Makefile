# Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install system-deps test lint typecheck pytest pytest-redis7 demo serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy --strict src

system-deps:
	bash scripts/system-deps.sh

pytest: install system-deps
	$(BIN)/pytest -q $(PYTEST_ARGS)

# the queue and chaos suites again against Debian's Redis 7 (the main run uses Valkey 8)
pytest-redis7: install system-deps
	VKC_TEST_REDIS_SERVER=$$(command -v redis-server) $(BIN)/pytest -q tests/integration/queue tests/chaos

test: lint typecheck pytest pytest-redis7

demo: install
	$(BIN)/vk-collector demo

serve: install
	$(BIN)/vk-collector serve

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
