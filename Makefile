# Two commands for a fresh machine (see README):
#   make run    set up .venv, then run the default pipeline end to end
#   make test   set up .venv, then lint and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format clean pulled

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/snakemake --cores all

# After `dvc pull`: DVC checks files out with new timestamps, which Snakemake would read as
# "inputs newer than outputs"; mark the pulled phases up to date (nothing is recomputed),
# so that `snakemake` only runs what was not published (evaluation).
pulled: setup
	$(BIN)/snakemake --cores 1 --touch preprocess_all teacher_all saliency_all distill_all

lint: setup
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

test: lint
	$(BIN)/python -m pytest

format: setup
	$(BIN)/ruff format src tests workflow/scripts benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results logs .snakemake mlruns.db mlartifacts
