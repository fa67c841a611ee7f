# DANA: `make run` sets everything up and serves the chat; `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run stop install test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	# The CPU build of torch first, pinned: an unpinned torch pulls a multi-GB GPU build.
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/dana serve

# The embedded database keeps running after the chat stops (the CLI shares it).
stop:
	$(VENV)/bin/dana stop

$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[test]'
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	touch $@

test: $(TEST_STAMP)
	$(VENV)/bin/pytest -q

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check dana tests bench app.py
	$(VENV)/bin/ruff format --check dana tests bench app.py

bench: $(TEST_STAMP)
	$(PY) -m bench --report bench/report.md

clean:
	rm -rf $(VENV) .dana
