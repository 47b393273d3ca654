VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo lint typecheck bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/mypy src
	$(VENV)/bin/pytest -q

demo: $(STAMP)
	$(PY) examples/commerce/demo.py $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk || echo "no wrk: bench/gateway.py uses its Python load generator"
	$(PY) bench/log.py
	$(PY) bench/delivery.py
	$(PY) bench/workflows.py
	$(PY) bench/gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache artery.db*
