# One command each, on a brand-new Debian machine: everything they need is installed first,
# idempotently (a second run installs nothing and takes seconds).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := ffmpeg chromium espeak-ng postgresql xvfb xauth fonts-dejavu-core rsync graphviz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
MUTATION_ARGS ?=

CLUSTER_PACKAGES := slurm-wlm munge slurmdbd mariadb-server

.PHONY: setup system-deps cluster-deps test test-cluster bench-cluster demo status bench mutation \
	lint rulegraph clean-output

setup: system-deps $(VENV)/.installed

# $(call apt_install,PACKAGES): the Debian packages not installed yet, installed.
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_PACKAGES))

# torch is pinned to the CPU build that lies on this disk (a bare `torch` would pull CUDA).
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,mutation,openai-whisper]'
	@touch $@

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A single-node Slurm cluster (cgroup process tracking, slurmdbd accounting), from Debian.
cluster-deps:
	$(call apt_install,$(CLUSTER_PACKAGES))

# The demo workflow with --workflow-profile profiles/slurm on that cluster, against a local run
# (tests/cluster/test_slurm.py); the cluster's daemons are started for it and stopped after.
test-cluster: setup cluster-deps
	TIKTOK_RESEARCH_CLUSTER_TESTS=1 $(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS)

# The same runs, with their figures printed: wall time and cluster jobs per video, peak memory.
bench-cluster: setup cluster-deps
	TIKTOK_RESEARCH_CLUSTER_TESTS=1 $(BIN)/python -m pytest tests/cluster -q -s

demo: setup
	$(BIN)/python -m tiktok_research.demo

OUTPUT ?= output
status: setup
	$(BIN)/tiktok-research status --output-dir $(OUTPUT)

bench: setup
	$(BIN)/python benchmark/bench.py

# Not part of CI: mutmut over the modules that hold the promises, in a scratch copy of the
# checkout (benchmark/mutation.py); fails below 85% killed overall or 75% in any module.
mutation: setup
	$(BIN)/python benchmark/mutation.py $(MUTATION_ARGS)

lint: setup
	$(BIN)/ruff check src tests scripts benchmark
	$(BIN)/lint-imports
	$(BIN)/snakemake --lint --cores 1

# docs/rulegraph.svg: the rules as Snakemake sees them once a query's search (the checkpoint)
# has listed a video, so the per-video rules appear too.
rulegraph: setup
	@tmp=$$(mktemp -d) && mkdir -p $$tmp/output/queries/query_00000_example && \
	printf 'query\nexample\n' > $$tmp/list.csv && \
	printf '[{"video_id": "1", "url": "https://www.tiktok.com/@a/video/1"}]' \
		> $$tmp/output/queries/query_00000_example/urls.json && \
	$(BIN)/snakemake -s Snakefile -d $$tmp --rulegraph --config research_list=$$tmp/list.csv \
		| dot -Tsvg > docs/rulegraph.svg && rm -rf $$tmp && echo "wrote docs/rulegraph.svg"

clean-output:
	rm -rf output browser_profiles
