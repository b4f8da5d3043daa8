# One command each, on a brand-new Debian machine: everything they need is installed first,
# idempotently (a second run installs nothing and takes seconds).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := ffmpeg chromium espeak-ng postgresql xvfb xauth fonts-dejavu-core rsync graphviz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
MUTATION_ARGS ?=

.PHONY: setup system-deps test demo status bench mutation lint rulegraph clean-output

setup: system-deps $(VENV)/.installed

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# torch is pinned to the CPU build that lies on this disk (a bare `torch` would pull CUDA).
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,mutation,openai-whisper]'
	@touch $@

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
