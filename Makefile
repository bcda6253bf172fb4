# smallssl — the two commands of the README, plus a few conveniences.
#   make demo   train the improved baseline briefly on the embedded dataset (torchrun, 2 processes),
#               evaluate random vs trained, write a report into runs/demo
#   make test   the whole test suite (notebooks with the slow set, then pytest)
# Each target creates the virtual environment it needs when missing.

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.smallssl-installed
# The torch build installed here. These machines keep these wheels on disk; elsewhere override, e.g.
#   make test TORCH="torch torchvision"
TORCH     ?= torch==2.14.1 torchvision==0.29.1
DEMO_OUT  ?= runs/demo

.PHONY: venv demo test test-fast test-nbs test-py sync-check docs lab clean

venv: $(STAMP)

$(STAMP): settings.ini setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/smallssl-demo --out $(DEMO_OUT)

# The tests write checkpoints, datasets and feature files (hundreds of MB) into temporary folders; each run gets its own
# TMPDIR, removed afterwards whether the tests pass or fail.
with_tmpdir = t=$$(mktemp -d -t smallssl-test.XXXXXX); echo "temporary files of this run: $$t (removed at the end)"; \
	export TMPDIR=$$t; $(1); rc=$$?; rm -rf $$t; exit $$rc

test: $(STAMP)
	@$(call with_tmpdir,$(VENV)/bin/nbdev_test --flags slow --n_workers 2 --timing && $(MAKE) --no-print-directory test-py)

# the default (non-slow) notebook tests only: a quick check while editing
test-fast: $(STAMP)
	@$(call with_tmpdir,$(VENV)/bin/nbdev_test --n_workers 2 --timing)

test-py: $(STAMP)
	@$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

# fails when the library, the notebooks or README.md differ from what nbdev_export / nbdev_clean / tools/mkreadme.py produce,
# or when ruff finds an unused import or an undefined name (pyproject.toml [tool.ruff])
sync-check: $(STAMP)
	$(VENV)/bin/nbdev_export
	$(VENV)/bin/nbdev_clean
	$(PY) tools/mkreadme.py
	$(VENV)/bin/ruff check smallssl tests bench experiments tools
	@if [ -n "$$(git status --porcelain -- smallssl nbs README.md)" ]; then \
	  echo "error: nbdev_export/nbdev_clean changed committed files; run them and commit:"; \
	  git status --porcelain -- smallssl nbs README.md; git --no-pager diff --stat -- smallssl nbs README.md; exit 1; fi
	@echo "library and notebooks are in sync"

clean:
	rm -rf _proc _docs runs test-artifacts

# ---- docs and lab (smallssl.docs, nbs/16_docs.ipynb; smallssl.lab, nbs/17_lab.ipynb) ---------------------------------
#   make docs   execute every chapter and render the website into _docs/: nbdev_docs when Quarto is installed, else nbdev's
#               processed notebooks rendered by nbconvert (no internet needed to build or to open it). Faster,
#               without executing the notebooks: make docs DOCS_ARGS=--no-exec
#               Look at it: python -m http.server -d _docs --bind 127.0.0.1 8000
#   make lab    JupyterLab for this project on http://127.0.0.1:$(LAB_PORT) (nbs/ as root; --allow-root when root)
DOCS_ARGS ?=
LAB_PORT  ?= 8899

docs: $(STAMP)
	$(PY) -m smallssl.docs $(DOCS_ARGS)

lab: $(STAMP)
	$(PY) -c "from smallssl.lab import main; main()" --port $(LAB_PORT)
