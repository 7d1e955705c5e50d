# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export S2S_RAW_DIR ?= data/raw
export S2S_WAREHOUSE ?= data/warehouse/warehouse.duckdb
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install run generate test lint dev bench clean dashboard docs

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

## lint: ruff (check + format) over the Python, sqlfluff over the dbt models and the BI queries in sql/
## (dbt templater: compiles each model and opens a DuckDB file to do so: a throwaway one under
## dbt/target/lint, never the warehouse, which a running job may hold; its own target folder too, so
## that its partial parse, made with another profile, does not make the next run's dbt parse again)
lint: $(STAMP)
	$(BIN)/ruff check dagster_project sample_company tests dashboard bench docs
	$(BIN)/ruff format --check dagster_project sample_company tests dashboard bench docs
	mkdir -p dbt/target/lint
	cd dbt && S2S_WAREHOUSE=$(CURDIR)/dbt/target/lint/lint.duckdb DBT_TARGET_PATH=target/lint \
		../$(BIN)/sqlfluff lint models --processes 2
	cd sql && ../$(BIN)/sqlfluff lint .

## dev: the Dagster UI on http://127.0.0.1:3000
dev: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m dagster_project dev

## dashboard: the sales dashboard on http://127.0.0.1:8501, read-only on the published BI snapshot
## (DASHBOARD_ADDRESS=0.0.0.0 to serve the team's network; S2S_BI_DIR picks the snapshot folder)
DASHBOARD_ADDRESS ?= 127.0.0.1
DASHBOARD_PORT ?= 8501
dashboard: $(STAMP)
	$(BIN)/streamlit run dashboard/app.py --server.headless true --server.address $(DASHBOARD_ADDRESS) \
		--server.port $(DASHBOARD_PORT) --browser.gatherUsageStats false --client.toolbarMode viewer

## docs: the dbt documentation site, one self-contained HTML file (works offline): dbt/target/static_index.html
docs: $(STAMP)
	S2S_WAREHOUSE=$(abspath $(S2S_WAREHOUSE)) $(BIN)/dbt docs generate --static --project-dir dbt --profiles-dir dbt
	@echo "dbt docs: $(CURDIR)/dbt/target/static_index.html"

## bench: time full / no-op / incremental runs against the floor and the pandas way (SCALES="1 10 30")
SCALES ?= 1 10
bench: $(STAMP)
	$(BIN)/python bench/run.py --scales $(SCALES)

clean:
	rm -rf data/warehouse .dagster_home dbt/target dbt/logs
