# RuralWatch — the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
PG_URL ?= postgres://postgres@127.0.0.1:5432/ruralwatch
ARGS ?=
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?= -n 2 --maxschedchunk 16

.PHONY: demo test test-sqlite test-postgres check bench fidelity fuzz env system-base system-test system-bench messages clean

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

# Bytecode is compiled once here: with PYTHONDONTWRITEBYTECODE set (as on these machines) Python
# would otherwise compile Django, WeasyPrint and the rest from source at every start (a whole
# `ruralwatch brief` took 4.6 s instead of 2.9 s).
.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

env: .venv/.synced
	@.venv/bin/python -m compileall -q -j 0 src

system-base:
	@scripts/ensure-system.sh base
system-test:
	@scripts/ensure-system.sh test
system-bench:
	@scripts/ensure-system.sh bench

## Set everything up, build the synthetic county, run the daily cycle and serve the dashboard.
demo: env system-base
	.venv/bin/ruralwatch demo $(ARGS)

## The whole suite, on SQLite (embedded default) and on PostgreSQL.
test: env system-test
	@scripts/ensure-postgres.sh
	$(MAKE) --no-print-directory test-sqlite test-postgres

# PYTHONDONTWRITEBYTECODE is lifted for pytest so that its rewritten test modules are cached in
# tests/**/__pycache__: rewriting the asserts of every test module again cost each process
# (each xdist worker, each pass) 25 CPU s of collection instead of 13.
test-sqlite:
	@echo "== tests on SQLite =="
	env -u DATABASE_URL -u PYTHONDONTWRITEBYTECODE .venv/bin/pytest -q $(PYTEST_ARGS)

# The PostgreSQL pass runs only the tests that use the database (tests/fixtures/dbonly.py): the
# others (the numerical core, the fidelity cases...) gave their answer in the SQLite pass.
test-postgres:
	@echo "== tests on PostgreSQL (database tests only) =="
	env -u PYTHONDONTWRITEBYTECODE DATABASE_URL=$(PG_URL) .venv/bin/pytest -q $(PYTEST_ARGS) --db-tests-only

## Lint, types and the architecture contract.
check: env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy --strict src/ruralwatch/epi
	.venv/bin/mypy src/ruralwatch
	.venv/bin/lint-imports

## Schemathesis over every API operation (GET and POST; examples, coverage, fuzzing and stateful phases)
## as a county user and a village doctor: over 5,000 cases, 0 5xx, 0 schema violations.
## On SQLite by default (a DATABASE_URL from the environment is ignored); on PostgreSQL with
## `make fuzz DATABASE_URL=postgres://postgres@127.0.0.1:5432/rw_fuzz` (pytest-django makes
## test_rw_fuzz beside it). The tally of answers goes to var/fuzz.json (var/fuzz-postgres.json).
FUZZ_ON_PG := $(filter command line,$(origin DATABASE_URL))
FUZZ_REPORT = var/fuzz$(if $(FUZZ_ON_PG),-$(firstword $(subst :, ,$(DATABASE_URL)))).json
fuzz: env
	$(if $(FUZZ_ON_PG),@scripts/ensure-postgres.sh)
	env $(if $(FUZZ_ON_PG),DATABASE_URL=$(DATABASE_URL),-u DATABASE_URL) \
		RURALWATCH_FUZZ_EXAMPLES=$${RURALWATCH_FUZZ_EXAMPLES:-75} RURALWATCH_FUZZ_SCENARIOS=20 \
		RURALWATCH_FUZZ_COVERAGE=1 RURALWATCH_FUZZ_MIN_CASES=5000 RURALWATCH_FUZZ_REPORT=$(FUZZ_REPORT) \
		.venv/bin/pytest -q -p no:cacheprovider -n 0 tests/api/test_schema.py
	@cat $(FUZZ_REPORT)

## Benchmarks side by side with the R peers; results in docs/benchmarks.md.
bench: env system-bench
	@scripts/ensure-postgres.sh
	.venv/bin/python -m bench

## Differential testing against R: N generated cases per method family (default 300), a fresh
## seed unless SEED is given; report in var/fidelity/, disagreements saved to tests/fidelity/cases.
SEED ?=
N ?= 300
fidelity: env system-bench
	.venv/bin/python -m bench.fidelity --n $(N) $(if $(SEED),--seed $(SEED))

messages: env
	cd src/ruralwatch && RURALWATCH_ENV=development ../../.venv/bin/python -m django compilemessages --settings=ruralwatch.config.settings

clean:
	rm -rf var/ out/ .pytest_cache .mypy_cache .ruff_cache
