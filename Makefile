# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
# torch==2.13.0 (the CPU build) goes in first and is then pinned through a constraints file,
# so that no later requirement can swap it for a CUDA build.
# spandrel (the import tests' oracle) declares a vision package that does not work with this torch build and that
# the architectures the tests compare against never use (README's dependency table says which): it goes in with
# --no-deps (einops, its one other need, is in the dev extra).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ganforge-installed
CONSTRAINTS := $(VENV)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test bench studio clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -c "import importlib.metadata as m; print('torch==' + m.version('torch'))" > $(CONSTRAINTS)
	PIP_CONSTRAINT=$(CONSTRAINTS) $(PY) -m pip install -q -e ".[dev,video,studio,export]"
	PIP_CONSTRAINT=$(CONSTRAINTS) $(PY) -m pip install -q --no-deps "spandrel>=0.4,<0.5"
	$(PY) -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch was replaced: ' + v)"
	touch $(STAMP)

demo: install
	$(VENV)/bin/ganforge train image --data builtin:digits --out runs/demo --size 32 --minutes 3 --seed 0 --overwrite

test: install
	$(PY) -m pytest -q

# the web studio on http://127.0.0.1:8765/ (workspace: ./studio-workspace)
studio: install
	$(VENV)/bin/ganforge studio

bench: install
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
