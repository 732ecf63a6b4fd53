# `make test` and `make check` work on a fresh clone: they create the virtual environment and install the
# Python and npm dependencies (and libodbc, which pyodbc needs to import) before running anything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The status page's bundle (npm run build: web/src -> web/dist, not committed).
WEB_BUILD := web/dist/index.html

.PHONY: deps test test-fast test-faults lint types security check format clean run

$(PY_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	scripts/ensure-system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_BUILD): $(NODE_STAMP) $(wildcard web/src/*) web/build.mjs
	npm run build --silent

deps: $(PY_STAMP) $(NODE_STAMP) $(WEB_BUILD)

# Every test but the long fault scenarios: the fault suite's short form (marker `short`, about 4 minutes) runs
# here, the whole of it (about 10 minutes) with `make test-faults`.
test: deps
	-scripts/ensure-postgres
	$(BIN)/pytest -m "not faults or short"

# The quick loop while editing: the pure unit tests and the contract tests on SQLite only (no PostgreSQL, no
# processes, no Azurite; well under a minute). `make test` runs everything. No test here uses the pytest
# plugins of schemathesis, anyio or hypothesis, whose loading took a second of every run: they stay out.
# The tests' temporary files (each contract test's SQLite database: a copy, its syncs, its removal) go to the
# RAM disk where there is one with 1 GiB free: on a busy shared disk they cost more than the tests' own work
# (the contract tests took 31-37 s against 18-20 s, back to back on a loaded 2-core machine).
FAST_PLUGINS_OFF := -p no:schemathesis -p no:anyio -p no:hypothesispytest
FAST_TMPDIR = $(shell df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 && $$4 > 1048576 {print "/dev/shm"}')
test-fast: $(PY_STAMP)
	$(if $(FAST_TMPDIR),TMPDIR=$(FAST_TMPDIR) )$(BIN)/pytest $(FAST_PLUGINS_OFF) \
		-m "not postgres" tests/unit tests/contract

# The fault suite alone (tests/faults: real processes killed and restarted, about 10 minutes); each
# scenario's figures (slots, notices, recovery time) are printed at the end (docs/testing.md).
test-faults: deps
	-scripts/ensure-postgres
	$(BIN)/pytest -m faults tests/faults

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: deps
	$(BIN)/mypy

# Bandit over the deployed code (configured in pyproject.toml), then pip-audit of requirements.txt where an
# advisory database answers (a message, not a failure, where none does): docs/security.md.
security: deps
	$(BIN)/bandit -q -c pyproject.toml -r shared devhost demo function_app.py
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/audit-dependencies

check: lint types security test

run: deps
	scripts/run-local

format: deps
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Benchmarks of the KPI pipeline (not run by the tests); they write benchmarks/RESULTS.md. query-exporter, the
# point of comparison, lives in its own virtualenv, never in requirements*.txt; when it cannot be installed
# the benchmarks still run and RESULTS.md says so.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP):
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet 'query-exporter==5.0.2' 'psycopg[binary]>=3.2,<4'
	touch $@

.PHONY: bench
bench: $(PY_STAMP)
	-scripts/ensure-postgres
	-$(MAKE) --no-print-directory $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.pipeline --own-cluster --query-exporter $(BENCH_VENV)/bin/query-exporter

# End to end through devhost + Azurite with 1 and 3 host processes, batching off and on (about 6 minutes); writes only the
# `<!-- e2e:start -->` section of benchmarks/RESULTS.md.
.PHONY: bench-e2e
bench-e2e: deps
	-scripts/ensure-postgres
	$(BIN)/python -m benchmarks.e2e

# Cleanup of 2,000,000 expired history rows on PostgreSQL (a few minutes, mostly seeding); writes only the
# `<!-- cleanup:start -->` section of benchmarks/RESULTS.md.
.PHONY: bench-cleanup
bench-cleanup: deps
	-scripts/ensure-postgres
	$(BIN)/python -m benchmarks.cleanup

# Detection quality on labelled hourly series in PostgreSQL: the original rule, the history median and the
# seasonal baseline side by side through `mgrid kpi backtest` (a few minutes); writes only the
# `<!-- detection:start -->` section of benchmarks/RESULTS.md. TOLERANCES="3 3.5 4 5" adds seasonal variants.
.PHONY: bench-detection
bench-detection: $(PY_STAMP)
	-scripts/ensure-postgres
	$(BIN)/python -m benchmarks.detection $(if $(TOLERANCES),--tolerance $(TOLERANCES))

# GET /api/kpis with 1,000 KPIs and 90 days of hourly history on PostgreSQL, in process and through the
# devhost (a few minutes, mostly seeding); writes only the `<!-- api:start -->` section of RESULTS.md.
.PHONY: bench-api
bench-api: deps
	-scripts/ensure-postgres
	$(BIN)/python -m benchmarks.api

# Cost model (arithmetic, instant): invocations, storage transactions, monitoring statements, CPU and the
# monthly Flex Consumption + Storage price at 1k, 10k and 100k KPIs a minute, today against batched
# messages; writes only the `<!-- cost:start -->` section of benchmarks/RESULTS.md. Pass the batched design's
# measured figures with COST_ARGS="--batched-statements 3 --batched-round-trips 3 --batched-cpu-ms 1.2".
.PHONY: bench-cost
bench-cost: $(PY_STAMP)
	$(BIN)/python -m benchmarks.cost $(COST_ARGS)

# Soak: three devhosts, 300 KPIs every minute for 20 minutes, with the fault suite's faults (Azurite lost, mail
# down, webhook failing, monitoring database restarted, a host killed) at random times (about 25 minutes);
# writes only the `<!-- soak:start -->` section of benchmarks/RESULTS.md. A smoke run:
# make bench-soak SOAK_ARGS="--minutes 3 --kpis 60 --output /tmp/soak.md"
.PHONY: bench-soak
bench-soak: deps
	-scripts/ensure-postgres
	$(BIN)/python -m benchmarks.soak $(SOAK_ARGS)
