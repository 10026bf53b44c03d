# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= $(shell nproc)
# `make demo` runs every job on one thread (snakemake --max-threads): on a laptop's few cores a
# second one-thread job does a whole job's work, while a second thread sped the demo's jobs up
# 0.9-1.7x (benchmarks/README.md, "Rerun 2026-12-03 (ninth session)"). The workflow profile's
# numbers are for cohorts of biobank size. MAX_THREADS= (empty) uses the profile's as they are.
MAX_THREADS ?= 1
DEMO_THREADS := $(if $(MAX_THREADS),--max-threads $(MAX_THREADS))
CONFIG ?= config/config.yaml
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: env system ssf-validator demo test test-fast lint clean

# The Python environment: pinned versions from requirements.lock, regwas itself editable.
# The lock is a complete freeze, installed without resolving: antspyx 0.6.3 declares
# numpy<2.4 and scipy<1.16 but runs (tested) with the locked newer versions; snakemake 9.27
# declares packaging<26 and runs (tested) with 26.3, which nilearn 0.14 needs (its
# Version.__replace__; with 25.0 importing nilearn.datasets fails). snakemake >= 9.17:
# 9.10-9.16 started more jobs than --cores allows (a single ready job's threads were never
# reserved; snakemake issue 3913): the demo ran 5-6 jobs on 2 cores.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

env: $(STAMP)

# Reference tools the tests compare against (Debian packages): plink2 and real 1000 Genomes
# genotypes (bolt-lmm-example); chromium renders the Snakemake report headless. Installed only
# when missing.
system:
	@if ! command -v plink2 >/dev/null || [ ! -f /usr/share/doc/bolt-lmm/examples/examples.tar.xz ] \
		|| ! command -v chromium >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq plink2 bolt-lmm-example chromium >/dev/null; \
	fi

# The GWAS Catalog's GWAS-SSF validator in its own venv (it pins pandas 1.5 and pydantic 1,
# which regwas's env cannot hold); tests/publish/test_gwas_ssf.py runs it.
SSF_VENV := .venv-ssf
$(SSF_VENV)/.installed: requirements-ssf.lock
	test -x $(SSF_VENV)/bin/python || $(PYTHON) -m venv $(SSF_VENV)
	$(SSF_VENV)/bin/pip install --quiet -r requirements-ssf.lock
	touch $@

ssf-validator: $(SSF_VENV)/.installed

# --quiet rules: one progress line per finished job instead of each job's inputs and outputs
# (every job still writes its full log under results/logs/); then the report, the verified
# publication bundle and a summary of the results.
# snakemake 9.27's report evaluates the profile's input-size resources without awaiting them
# and warns once per job (64 warnings, 190 lines, in the demo's output); harmless: silenced
REPORT_ENV := PYTHONWARNINGS="ignore:coroutine:RuntimeWarning"

demo: env
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) $(DEMO_THREADS) --configfile $(CONFIG) --quiet rules || { \
		status=$$?; \
		echo "make demo: stopped. The failing job's error is above, its log under results/logs/;"; \
		echo "run 'make demo' again to resume (see README, 'Interrupted runs')."; \
		exit $$status; }; \
	$(REPORT_ENV) $(BIN)/snakemake --configfile $(CONFIG) --quiet all --report results/report/report.zip && \
	$(REPORT_ENV) $(BIN)/snakemake --configfile $(CONFIG) --quiet all --report results/report/report.html && \
	$(BIN)/snakemake bundle --cores $(CORES) $(DEMO_THREADS) --configfile $(CONFIG) --quiet rules && \
	$(BIN)/regwas bundle verify "$$(ls -t results/bundle/regwas-*.tar.gz | head -1)" \
		--samples results/cohort/samples.tsv && \
	echo && \
	$(BIN)/python -m regwas.compare.summary --results results --config $(CONFIG) \
		--seconds $$(( $$(date +%s) - start ))

lint: env
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile $(CONFIG)

# --dist loadfile: all tests of a file on one worker, so a workflow test module's real run
# (its module fixture) happens once; loadgroup's xdist_group marks did not group with
# pytest 9.2 + xdist 3.8 (each of the two workers ran every slow module's workflow again)
test: env system ssf-validator lint
	$(BIN)/pytest -n 2 --dist loadfile --durations=20

test-fast: env
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow"

clean:
	rm -rf results/* .snakemake
