# hotline: two commands on a fresh Debian bookworm machine (root, or a user with sudo).
#   make run    set everything up, then run Asterisk and the hotline service in the foreground
#   make test   set everything up, then run the whole test suite
# Also: make lint (import contracts, ruff, ruff format, mypy; make test runs it), make lock / lock-upgrade (refresh requirements.lock),
#       make wallboard (refresh the README's picture, docs/wallboard.png).
SHELL := /bin/bash
# The system's Python: the service runs as an unprivileged user (`hotline run` as root), which must be able to run
# the venv's interpreter (one under /root, e.g. pyenv's, is out of its reach).
PYTHON ?= /usr/bin/python3
SERVICE_USER ?= hotline
# Test modules run on this many workers at once (pytest-xdist, a module at a time per worker: an end-to-end
# module's Asterisk stays in one worker); 1 runs them one after another.
TEST_JOBS ?= 2
VENV := .venv
LOCK := requirements.lock
PIP_TOOLS := pip-tools==7.6.2
LOCK_VENV := build/lock-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBS := mmdebstrap sip-tester espeak-ng sox acl python3 python3-venv ca-certificates chromium fail2ban nftables
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test deps venv provision lint lint-full lock lock-upgrade wallboard clean

run: deps venv provision
	$(SUDO) $(VENV)/bin/hotline run

test: deps venv provision lint
	$(SUDO) $(VENV)/bin/python -m pytest -ra -n $(TEST_JOBS) --dist loadfile

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@# the unprivileged user `hotline run` (as root) runs the service as (HOTLINE_SERVICE_USER)
	@id -u $(SERVICE_USER) >/dev/null 2>&1 || { echo "creating the system user $(SERVICE_USER)"; \
		$(SUDO) useradd --system --user-group --home-dir /var/lib/hotline --no-create-home \
			--shell /usr/sbin/nologin $(SERVICE_USER); }

# A venv built from another Python (an older checkout's) is built again from $(PYTHON).
venv:
	@if [ -e $(VENV)/bin/python ] && [ "$$(readlink -f $(VENV)/bin/python)" != "$$(readlink -f $(PYTHON))" ]; then \
		echo "rebuilding $(VENV) from $(PYTHON)"; rm -rf $(VENV); \
	fi
	@$(MAKE) --no-print-directory $(VENV)/.installed

# Exact versions (with hashes) from the lock, then the project itself, editable and without resolving anything again.
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes -r $(LOCK)
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	$(VENV)/bin/pip check
	touch $@

# The lock: every package `make` installs, resolved from pyproject.toml's ranges (the `test` extra included) by pip-tools,
# which runs from a venv of its own. `make lock` keeps the pins that still fit and resolves only what changed;
# `make lock-upgrade` moves every pin to the newest version the ranges allow. Commit the result with pyproject.toml.
lock: $(LOCK_VENV)/bin/pip-compile
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --extra test --generate-hashes \
		--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links -o $(LOCK) $(LOCK_ARGS) pyproject.toml

lock-upgrade: LOCK_ARGS := --upgrade
lock-upgrade: lock

$(LOCK_VENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q $(PIP_TOOLS)

provision: venv
	$(SUDO) $(VENV)/bin/hotline provision

# The import contracts (docs/architecture.md), ruff (lint and format) and mypy. Each tool runs even when an
# earlier one fails, so one run shows every finding. `make test` runs it first.
lint: venv
	@status=0; \
	$(VENV)/bin/lint-imports || status=1; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

lint-full: lint

# The README's picture: the e2e test takes the screenshot under artifacts/ (never in docs/, so a test run leaves
# the work tree clean); this copies it into docs/ to be committed.
wallboard: deps venv provision
	$(SUDO) $(VENV)/bin/python -m pytest -q tests/e2e/test_console.py::test_wallboard_under_load_screenshot
	cp artifacts/wallboard.png docs/wallboard.png

clean:
	rm -rf $(VENV) var build dist artifacts .pytest_cache .mypy_cache .ruff_cache .import_linter_cache *.egg-info
