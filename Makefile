# Casebridge: `make run` for a demo node, `make test` for the whole suite. See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Tests and benchmarks run on PostgreSQL and Redis on loopback.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/casebridge
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-pg test-sqlite test-browser bench lint format lock services clean help

help:
	@echo "make run    - set up and serve a demo node on http://127.0.0.1:$(PORT) (SQLite, no broker needed)"
	@echo "make test   - set up and run the whole suite on PostgreSQL and Redis"
	@echo "make bench  - run the benchmarks (each against a raw baseline)"
	@echo "make lint   - ruff"

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

# DEMO=1, not DEBUG=1: the demo shows the pages a real node shows (friendly 404/500/400), with keys
# and secret generated under var/; settings refuse DEMO next to a real deployment's variables.
run:
	@echo "==> Installing dependencies into $(VENV) (the first time takes a few minutes; later runs skip it)"
	@$(MAKE) --no-print-directory $(VENV)/.installed
	@echo "==> Migrating the database (SQLite under var/ unless DATABASE_URL is set)"
	DEMO=1 $(PY) manage.py migrate --no-input
	@echo "==> Seeding the demo agencies, users, hash sets and case"
	DEMO=1 $(PY) manage.py seed_demo
	@echo
	@echo "==> Serving the Casebridge demo node at http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	@echo "    Log in as nsp.investigator; one-time code: DEMO=1 $(if $(CASEBRIDGE_VAR_DIR),CASEBRIDGE_VAR_DIR=$(CASEBRIDGE_VAR_DIR) )$(PY) manage.py totp_code nsp.investigator"
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
	  echo "==> Starting a Celery worker with its beat schedule (CELERY_BROKER_URL is set)"; \
	  DEMO=1 $(VENV)/bin/celery -A casebridge worker -B --loglevel=INFO --concurrency=2 & \
	  trap "kill $$!" EXIT; \
	fi; \
	DEMO=1 $(PY) manage.py runserver 127.0.0.1:$(PORT)

services:
	@bash scripts/services-up

# Fresh random keys for every test run (pytest-django runs with DEBUG off, which requires them).
KEYS_ENV = KEY_ENCRYPTION_KEY=$$($(PY) -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())') \
  AUDIT_SIGNING_KEY=$$($(PY) -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
# Production-like settings for the suite: DEBUG off, real secret key, PostgreSQL and Redis.
TEST_ENV = DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) CELERY_TASK_ALWAYS_EAGER=1 \
  AUDIT_INTEGRATE_ON_COMMIT=0 DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') \
  $(KEYS_ENV) ALLOWED_HOSTS=testserver,127.0.0.1,localhost SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0

test: $(VENV)/.installed services
	$(TEST_ENV) $(PY) manage.py collectstatic --no-input -v 0
	$(TEST_ENV) $(PY) -m pytest -q --create-db $(PYTEST_ARGS)
	$(MAKE) test-sqlite

# A part of the suite on PostgreSQL while developing: make test-pg PYTEST_ARGS="tests/security -x".
# Several checkouts can run side by side with their own TEST_DATABASE_URL and TEST_BROKER_URL.
# collectstatic (compressing every file) runs only when a static file changed since the last run.
STATIC_SOURCES := $(shell find */static -type f 2>/dev/null)
staticfiles/staticfiles.json: $(STATIC_SOURCES)
	$(TEST_ENV) $(PY) manage.py collectstatic --no-input -v 0

test-pg: $(VENV)/.installed services staticfiles/staticfiles.json
	$(TEST_ENV) $(PY) -m pytest -q $(PYTEST_ARGS)

# The zero-setup default (SQLite, in-process tasks) must not rot: its part of the suite runs too.
test-sqlite: $(VENV)/.installed
	CASEBRIDGE_VAR_DIR=$$(mktemp -d) DEBUG=1 $(KEYS_ENV) $(PY) -m pytest -q --create-db -m "not broker and not federation and not faults and not browser and not slow" \
	  tests/test_settings.py tests/agencies tests/audit/test_capture.py tests/audit/test_append_only.py \
	  tests/audit/test_integrator.py tests/audit/test_audit_ui.py tests/hashsets/test_import_service.py \
	  tests/hashsets/test_hashset_ui.py tests/exchange/test_exchange_flow.py tests/casebridge/test_demo.py

bench: $(VENV)/.installed services
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) benchmarks/run_all.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-pin every dependency after editing requirements.in: resolve it in a scratch venv, then record
# each pin with the hashes of its files (pip-tools in a venv of its own, so it is not pinned itself).
LOCK_DIR := /tmp/casebridge-lock
lock:
	rm -rf $(LOCK_DIR) && $(PYTHON) -m venv $(LOCK_DIR)/env && $(PYTHON) -m venv $(LOCK_DIR)/tools
	$(LOCK_DIR)/tools/bin/pip install --quiet pip-tools==7.5.2
	$(LOCK_DIR)/env/bin/pip install --quiet -r requirements.in
	$(LOCK_DIR)/env/bin/pip freeze --exclude pip > $(LOCK_DIR)/pins.txt
	$(LOCK_DIR)/tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
	  --no-annotate --no-emit-index-url --no-emit-find-links --output-file $(LOCK_DIR)/hashed.txt $(LOCK_DIR)/pins.txt
	( echo "# Generated by 'make lock' from requirements.in: every package pinned, with the hashes of its published files"; \
	  echo "# (pip installs in hash-checking mode). Edit requirements.in, not this file."; \
	  cat $(LOCK_DIR)/hashed.txt ) > requirements.txt

clean:
	rm -rf $(VENV) var staticfiles
