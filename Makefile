# onsell: `make demo` runs the product, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# bench/scale.py's size: SALES=10000000 make bench for the full chain
SALES ?= 1000000

.PHONY: demo test lint bench clean

# pip's own chatter goes to .venv/pip.log; it is shown only when the install fails.
$(VENV)/.installed: pyproject.toml
	@echo "setting up $(VENV) (once; about a minute)"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(PY) -m pip install --quiet -e '.[test]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

# the bench extra (DuckDB, for bench/scale.py's comparison) only for make bench
$(VENV)/.bench-installed: $(VENV)/.installed
	@$(PY) -m pip install --quiet -e '.[test,bench]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@touch $@

demo: $(VENV)/.installed
	@$(PY) -m client.demo

test: lint
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.bench-installed
	$(PY) bench/sales.py --tls
	$(PY) bench/throughput.py
	$(PY) bench/reports.py
	$(PY) bench/failover.py --tls
	$(PY) bench/stop.py
	$(PY) bench/imports.py
	$(PY) bench/import_sales.py
	$(PY) bench/fleet.py --tls
	$(PY) bench/scale.py --sales $(SALES)
	$(PY) bench/follower_reports.py

clean:
	rm -rf $(VENV) data *.egg-info .pytest_cache build
