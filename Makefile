# SIAGA — two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-serial lint faults fuzz bench services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

## Start SIAGA with simulated buttons on embedded PostgreSQL and MQTT; prints the console address.
demo: $(STAMP)
	$(VENV)/bin/siaga demo

services:
	bash scripts/ensure-services.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## Install what the tests need, start missing services, run every test (fast subset of faults/fuzz),
## one pytest-xdist worker per core, a test file per worker: with the other core kept busy the
## suite (2,428 tests) took 616 s against 691 s serial. The unclosed-socket races that made this
## serial (a device's connect outliving its client, the fault proxy's upstream connect) are fixed;
## `make test-serial` runs them one after another, to read a failure's output in order.
test: $(STAMP) services lint
	$(PY) -m pytest -m "not slow" -p no:cacheprovider -n auto --dist loadfile

test-serial: $(STAMP) services lint
	$(PY) -m pytest -m "not slow" -p no:cacheprovider

## The full fault matrix (long): prints a table of lost/duplicate per fault.
faults: $(STAMP) services
	$(PY) -m pytest -m "faults" -p no:cacheprovider -s

## Fuzzing (long): at least 100,000 inputs per decoder, then a table of inputs per decoder and seconds per test;
## schemathesis against the API as each role, SIAGA_FUZZ_EXAMPLES/1000 examples per operation and mode
## (SIAGA_SCHEMATHESIS_EXAMPLES overrides).
fuzz: $(STAMP) services
	SIAGA_FUZZ_EXAMPLES=100000 nice -n 10 $(PY) -m pytest tests -m "fuzz" -p no:cacheprovider --timeout=0 --durations=10

bench: $(STAMP) services
	$(VENV)/bin/siaga bench

clean:
	rm -rf $(VENV) var .pytest_cache
