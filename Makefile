# spectm task runner. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed-run
CORES  ?= 2
SNAKE  := $(BIN)/snakemake --profile profiles/local --cores $(CORES)
# Before a run: remove a lock left by a killed run (kill -9, out of memory), never while
# Snakemake runs here (docs/usage.md, "When a run fails or is killed").
UNLOCK := $(BIN)/python -m spectm.workdir

.DEFAULT_GOAL := help
.PHONY: help install demo refresh adapt unlock dry-run test test-slurm lint typecheck unit workflow-test bench study mutate report-zip clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-14s %s\n", $$1, $$2}'

# The demo needs only the runtime dependencies; the tests add the dev tools and reference peers.
# (dask, a dev extra, makes every xarray job import dask.array: ~0.7 s x ~100 demo jobs.)
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install spectm with its dev tools

demo: $(RUN_STAMP)  ## the offline demo to results/report/index.html (without the EnMAP branch)
	$(UNLOCK)
	$(SNAKE) --configfile config/without-enmap.yaml
	@echo "report: results/report/index.html"

# The weekly update of `make demo`: search again (new granules, refined versions), then run only
# what changed. Edit pace.end / samples.extra_files first; on an unchanged config it runs the
# search and nothing else. Two runs: a checkpoint forced in the same run as its consumers would
# rerun every job that reads it. (With the EnMAP branch: also enmap_search and its manifest.)
PACE_MANIFEST := results/pace/manifest.csv
refresh: $(RUN_STAMP)  ## after `make demo`: search again, fetch only new granules, rerun what changed
	$(UNLOCK)
	$(SNAKE) $(PACE_MANIFEST) --configfile config/without-enmap.yaml --forcerun pace_search
	$(SNAKE) --configfile config/without-enmap.yaml
	@echo "report: results/report/index.html"

adapt: $(RUN_STAMP)  ## the whole workflow, with EnMAP chips and the TerraMind experiment
	$(UNLOCK)
	$(SNAKE)
	@echo "report: results/report/index.html (with the EnMAP -> TerraMind section)"

unlock: $(RUN_STAMP)  ## remove a lock left by a killed run (only when no snakemake runs here)
	$(UNLOCK) --verbose

dry-run: $(RUN_STAMP)  ## list the jobs of the default workflow without running them
	$(SNAKE) -n

lint: $(STAMP)  ## ruff, ruff format --check, snakemake --lint
	$(BIN)/ruff check src tests bench studies
	$(BIN)/ruff format --check src tests bench studies
	$(BIN)/snakemake --lint

typecheck: $(STAMP)  ## mypy on the package
	$(BIN)/mypy

unit: $(STAMP)  ## the test suite without the end-to-end workflow tests
	$(BIN)/pytest -m "not workflow and not slurm"

test: $(STAMP)  ## lint + typecheck + the whole test suite (CI runs it, then test-slurm)
	$(MAKE) lint typecheck
	$(BIN)/pytest

# Root only: apt-get installs slurm-wlm and munge, a single-node cluster runs on localhost, the
# tiny workflow runs through it with profiles/slurm and locally; daemons stopped on every exit.
test-slurm: $(STAMP)  ## the tiny workflow through a real single-node SLURM (root; CI runs it)
	tests/slurm/run.sh

# Full size, median of repeated runs; about 15 minutes on 2 cores and 10 GB of memory at the
# peak (the full-size granule). Needs a quiet machine. CI runs each at a tiny size, untimed
# (tests/test_bench_smoke.py). The RESULT lines go into bench/README.md.
BENCHES := bench_resample bench_chip bench_matchup bench_pretrain_vs_plain bench_workflow
bench: $(STAMP)  ## speed benchmarks at full size, each ending in RESULT lines (bench/README.md)
	set -e; for b in $(BENCHES); do $(BIN)/python bench/$$b.py; echo; done

mutate: $(STAMP)  ## mutation testing of the core modules (mutmut; slow, not in `make test`)
	$(BIN)/python -m tests.mutate $(MODULES)

study: $(RUN_STAMP)  ## the SpecTM gap study after `make demo` (results/study/; docs/study.md)
	$(BIN)/python studies/gap_study.py --config config.yaml --results results --out results/study

report-zip: $(RUN_STAMP)  ## snakemake --report with the rule captions
	$(SNAKE) --report results/report.zip

clean:  ## remove results/, logs/ and generated resources/ (keeps .venv)
	rm -rf results logs resources .snakemake
