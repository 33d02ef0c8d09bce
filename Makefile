# Ferry's commands. `make run` and `make test` work on a fresh Debian machine.
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test bench lint setup browser clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -c "import lxml.etree, xmlsec; assert lxml.etree.LIBXML_VERSION == xmlsec.get_libxml_version(), 'lxml and xmlsec bundle different libxml2'"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian's Chromium for the browser tests (Playwright drives it; never `playwright install`).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

run: setup
	$(PY) -m demo.run

test: setup browser
	$(PY) -m pytest

bench: setup
	$(PY) bench/signin.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) instance/demo
