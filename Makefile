# Ferry's commands. `make run` and `make test` work on a fresh Debian machine.
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test bench profile soak fuzz lint setup debian clean

# The compiled catalogues (.mo, not in git), built from translations/<lang>/LC_MESSAGES/*.po.
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

setup: $(STAMP) $(CATALOGUES)

# A rule of its own rather than a line of the $(STAMP) recipe: the stamp changes only with the
# dependencies, and a .po edited (or a checkout whose venv is already installed) must compile too.
translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(STAMP)
	$(PY) -m babel.messages.frontend compile -l $* -i $< -o $@

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -c "import lxml.etree, xmlsec; assert lxml.etree.LIBXML_VERSION == xmlsec.get_libxml_version(), 'lxml and xmlsec bundle different libxml2'"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian packages the tests start as real peers: Chromium (driven by Playwright; never
# `playwright install`), OpenLDAP's slapd, simplesamlphp (served by `php -S`) and xmlsec1 (pysaml2). Installed once; the tests start them themselves.
DEBIAN_PACKAGES := chromium slapd ldap-utils simplesamlphp php-cli php-xml php-mbstring xmlsec1 whois
debian:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  printf '%s\n' "slapd slapd/no_configuration boolean true" | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

# For developers after changing a user-facing text: extract every message babel.cfg names into
# translations/messages.pot and merge it into each language's catalogue; then translate what is
# new or marked fuzzy (tests/test_translations.py fails until then). The directories skipped are
# the ones tests/test_translations.py skips.
BABEL_IGNORE_DIRS := .* _* tests bench demo docs instance
.PHONY: translations
translations: setup
	$(PY) -m babel.messages.frontend extract -F babel.cfg --ignore-dirs="$(BABEL_IGNORE_DIRS)" \
	  --add-comments=Translators: --sort-by-file --width=100 --project=Ferry \
	  --copyright-holder="Ferry's authors" -o translations/messages.pot .
	$(PY) -m babel.messages.frontend update -i translations/messages.pot -d translations \
	  --width=100 --ignore-obsolete

run: setup
	$(PY) -m demo.run

test: setup debian
	$(PY) -m pytest

# Every benchmark runs even if one before it failed; the target fails if any did, and the
# report (one table, bench/results/summary.json and summary.svg) refuses a missing or failed one.
# See bench/README.md. About 12 minutes here; the first run also installs the peer's venv.
bench: setup
	@status=0; \
	$(PY) bench/signin.py || status=1; \
	$(PY) bench/signin.py --database postgres --peer none \
	  --json bench/results/signin-postgres.json || status=1; \
	$(PY) bench/passkey.py || status=1; \
	$(PY) bench/first_signin.py || status=1; \
	$(PY) bench/endpoints.py || status=1; \
	$(PY) bench/scaleout.py || status=1; \
	$(PY) bench/report.py || status=1; \
	exit $$status

# A flame graph of the workers under the password sign-in load (bench/results/profile.svg), then
# Ferry's own CPU per sign-in without an HTTP server, per request, the hash left out.
profile: setup
	$(PY) bench/profile.py
	$(PY) bench/framework.py

# ruff (style, bugs, bandit's rules with per-line reasons), bandit (its checks ruff lacks; see
# [tool.bandit] in pyproject.toml), pip-audit (known vulnerabilities of the exact pins; asks PyPI).
# pip-audit reads PyPI's per-release JSON; on an index without it pip-audit skips every package
# and still passes: CI against pypi.org should run `make lint PIP_AUDIT_FLAGS=--strict`.
PIP_AUDIT_FLAGS ?=
# The fuzz tests with thousands of random examples each (make test runs a short fixed pass):
# FUZZ_EXAMPLES per test, on SQLite and PostgreSQL; about 10,000 requests by default.
FUZZ_EXAMPLES ?= 160
fuzz: setup debian
	FERRY_FUZZ_RANDOM=1 FERRY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/fuzz

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit -c pyproject.toml -q -r .
	$(VENV)/bin/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off $(PIP_AUDIT_FLAGS)

# Ferry under gunicorn with a legacy IDP, mixed traffic for MINUTES (default 30); fails on any
# 5xx or on memory growth past the threshold. `make soak MINUTES=2` for a short one.
MINUTES ?= 30
soak: setup
	$(PY) bench/soak.py --minutes $(MINUTES)

clean:
	rm -rf $(VENV) instance/demo
