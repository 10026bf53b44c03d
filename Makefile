# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= $(shell nproc)
CONFIG ?= config/config.yaml
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: env system demo test test-fast lint clean

# The Python environment: pinned versions from requirements.lock, regwas itself editable.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

env: $(STAMP)

# Reference tools the tests compare against (Debian packages): plink2 and real 1000 Genomes
# genotypes (bolt-lmm-example). Installed only when missing.
system:
	@if ! command -v plink2 >/dev/null || [ ! -f /usr/share/doc/bolt-lmm/examples/examples.tar.xz ]; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq plink2 bolt-lmm-example >/dev/null; \
	fi

# --quiet rules: one progress line per finished job instead of each job's inputs and outputs
# (every job still writes its full log under results/logs/); then a summary of the results.
demo: env
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --quiet rules || { \
		status=$$?; \
		echo "make demo: stopped. The failing job's error is above, its log under results/logs/;"; \
		echo "run 'make demo' again to resume (see README, 'Interrupted runs')."; \
		exit $$status; }; \
	echo; \
	$(BIN)/python -m regwas.compare.summary --results results --config $(CONFIG) \
		--seconds $$(( $$(date +%s) - start ))

lint: env
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile $(CONFIG)

test: env system lint
	$(BIN)/pytest -n 2 --dist loadgroup --durations=20

test-fast: env
	$(BIN)/pytest -n 2 --dist loadgroup -m "not slow"

clean:
	rm -rf results/* .snakemake
