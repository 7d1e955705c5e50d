# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export S2S_RAW_DIR ?= data/raw
export S2S_WAREHOUSE ?= data/warehouse/warehouse.duckdb
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install run generate test lint dev bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: generate the sample when the raw folder is empty, then materialize every asset.
run: $(STAMP)
	$(BIN)/python -m dagster_project run --sample-if-empty

## generate: (re)write the scale-1 sample into $(S2S_RAW_DIR).
generate: $(STAMP)
	$(BIN)/python -m dagster_project generate --scale 1 --seed 7 --out $(S2S_RAW_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check dagster_project tests
	$(BIN)/ruff format --check dagster_project tests

## dev: the Dagster UI on http://127.0.0.1:3000
dev: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m dagster_project dev

## bench: time full / no-op / incremental runs against the floor and the pandas way (SCALES="1 10 30")
SCALES ?= 1 10
bench: $(STAMP)
	$(BIN)/python bench/run.py --scales $(SCALES)

clean:
	rm -rf data/warehouse .dagster_home dbt/target dbt/logs
