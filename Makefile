# hotline: two commands on a fresh Debian bookworm machine (root, or a user with sudo).
#   make run    set everything up, then run Asterisk and the hotline service in the foreground
#   make test   set everything up, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBS := mmdebstrap sip-tester espeak-ng sox python3-venv ca-certificates chromium
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test deps venv provision lint clean

run: deps venv provision
	$(SUDO) $(VENV)/bin/hotline run

test: deps venv provision lint
	$(SUDO) $(VENV)/bin/python -m pytest -ra

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

provision: venv
	$(SUDO) $(VENV)/bin/hotline provision

lint: venv
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache
