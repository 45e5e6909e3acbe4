# The two commands: `make run` and `make test`. Everything else is set up by them.
PORT ?= 5000
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Links in mails must point at the web process, whatever port honcho gives the others, and
# from a command in another terminal too: `make run` stores this URL in the database, which
# every process reads (MAILER_BASE_URL, when set, wins; the admin can edit the stored one).
RUN_BASE_URL := $(or $(MAILER_BASE_URL),http://127.0.0.1:$(PORT))
# Without an SMTP server `make run` keeps every mail in the dev outbox, and says so: the
# services themselves refuse to start with neither (the outbox page shows readers' links).
# For `make run` alone: the tests bring their own SMTP server.
ifeq ($(strip $(MAILER_SMTP_HOST)),)
run: export MAILER_DEV_OUTBOX ?= true
endif

.PHONY: run test install lint bench clean chromium axe mail-servers i18n i18n-pot mutate

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mailer needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The worker runs as `python -OO` (Procfile): without docstrings, ~5.5 MB less per worker
# process (bench/README.md, "Worker memory"). pip writes only the plain .pyc files, and a
# module with no .opt-2.pyc is compiled from source at every start (slower, and ~9 MB
# more): these are written once here, for the venv and, where writable, the standard
# library. (compileall fails on the odd test fixture in site-packages: not an error.)
OPT2_STAMP := $(VENV)/.opt2-stamp
$(OPT2_STAMP): $(STAMP)
	@$(BIN)/python -OO -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	@$(BIN)/python -OO -m compileall -q -j 0 \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" >/dev/null 2>&1 || true
	@touch $@

install: $(STAMP) $(OPT2_STAMP)

run: install
	$(BIN)/mailer db upgrade
	$(BIN)/mailer settings base-url $(RUN_BASE_URL)
	@echo ""
	@echo "  Sign up:  $(RUN_BASE_URL)/subscribe"
	@echo "  Admin:    $(RUN_BASE_URL)/admin  (first: .venv/bin/mailer editor create YOU@example.no --role admin)"
	@echo "  Archive:  $(RUN_BASE_URL)/archive"
	@echo "  Health:   $(RUN_BASE_URL)/healthz"
	@$(if $(MAILER_SMTP_HOST),echo "  SMTP:     $(MAILER_SMTP_HOST)",echo "  Outbox:   $(RUN_BASE_URL)/outbox/  (dev SMTP sink on 127.0.0.1:8025)")
	@echo "  Ctrl-C stops everything."
	@echo ""
	@$(if $(MAILER_BOUNCE_DOMAIN),echo "  Bounces:  listener on $${MAILER_BOUNCE_LISTEN:-127.0.0.1:8026} for $(MAILER_BOUNCE_DOMAIN)" && echo "",)
	exec $(BIN)/honcho -f Procfile.dev start --port $(PORT) web worker beat \
	  $(if $(MAILER_SMTP_HOST),,outbox) $(if $(MAILER_BOUNCE_DOMAIN),bounces,)

# Style, types (pyproject's [tool.mypy]) and the import layers (.importlinter).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# gettext: extract every marked string (Babel's keywords plus t, tn and N_) from mailer/ and
# templates/ into a template, then merge it into both catalogues. New strings arrive with an
# empty msgstr (tests/i18n fails until English is written), changed ones as fuzzy, and
# strings no longer used are dropped. The .po files are read at start: nothing to compile.
I18N_POT ?= var/messages.pot
PYBABEL ?= $(BIN)/pybabel
# Also run by tests/i18n (with its own I18N_POT and PYBABEL): one place for the options.
i18n-pot:
	@mkdir -p $(dir $(I18N_POT))
	$(PYBABEL) -q extract -F babel.cfg -k t -k tn:1,2 -k N_ --project=mailer \
	  --add-location=file --no-wrap --sort-output -o $(I18N_POT) mailer templates

i18n: install i18n-pot
	$(PYBABEL) -q update -i $(I18N_POT) -d mailer/i18n/locale --no-wrap --ignore-obsolete \
	  --ignore-pot-creation-date

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# axe-core (npm, pinned in tests/axe/package-lock.json) checks every page the browser tests
# visit for WCAG 2.1 A/AA violations. Installed once here; the tests never download anything.
AXE_JS := tests/axe/node_modules/axe-core/axe.min.js
$(AXE_JS): tests/axe/package.json tests/axe/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "installing Debian's npm for axe-core"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	cd tests/axe && npm ci --no-audit --no-fund --loglevel=error
	@touch $(AXE_JS)

axe: $(AXE_JS)

# The bounce tests run their own Postfix and Dovecot (own config, loopback ports): Debian's
# packages with nothing configured and no system service started (a policy-rc.d that
# forbids starts is put in place for the install only, unless one is there already).
mail-servers:
	@test -x /usr/sbin/postfix -a -x /usr/sbin/dovecot || { \
	  echo "installing Debian's postfix and dovecot-imapd for the bounce tests"; \
	  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	  made=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix dovecot-imapd; \
	  status=$$?; if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$status; }

test: install lint chromium axe mail-servers
	$(BIN)/pytest

# Mutation testing (not in CI: about an hour on 2 cores). Scope and test selection live in
# pyproject.toml [tool.mutmut]; the score and every survivor's reason in tests/MUTATION.md.
# A fresh mutants/ each run (mutmut would otherwise reuse results of changed code).
mutate: install
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/python tests/mutation_score.py mutants/mutmut-cicd-stats.json
	$(BIN)/python -m tests.mutation_survivors > mutants/survivors.md
	@echo "per-module table and every survivor: mutants/survivors.md"

bench: install
	$(BIN)/python bench/send.py

clean:
	rm -rf $(VENV) var mutants tests/axe/node_modules
