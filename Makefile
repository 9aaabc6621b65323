# onsell: `make demo` runs the product, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

# pip's own chatter goes to .venv/pip.log; it is shown only when the install fails.
$(VENV)/.installed: pyproject.toml
	@echo "setting up $(VENV) (once; about a minute)"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install --quiet -e '.[test]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

demo: $(VENV)/.installed
	@$(PY) -m client.demo

test: lint
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(PY) bench/sales.py --tls
	$(PY) bench/throughput.py
	$(PY) bench/reports.py
	$(PY) bench/failover.py --tls
	$(PY) bench/stop.py
	$(PY) bench/imports.py
	$(PY) bench/import_sales.py
	$(PY) bench/fleet.py --tls

clean:
	rm -rf $(VENV) data *.egg-info .pytest_cache build
