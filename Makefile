# The reference lab for Python schema migrations.
# Every target prints the real command it runs, so you can see what to type yourself.
# `make` alone lists the targets.

PYTHON ?= python3
VENV := .venv
FRAMEWORKS ?= django flask fastapi
DB ?= sqlite
MSG ?=
BLOG_API_TOKEN ?= demo-token

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export BLOG_API_TOKEN
# pgserver reads this when it is imported.
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

space := $(subst ,, )

ifeq ($(DB),sqlite)
db_env =
else ifeq ($(DB),postgresql)
# Each app gets its own database on the project's server (`make pg-up`), or on yours if DATABASE_URL is set.
db_env = DATABASE_URL="$$(cd $(CURDIR) && python -m compare.pg url $(1))" && export DATABASE_URL &&$(space)
else ifeq ($(DB),mariadb)
# Each app gets its own database on the project's MariaDB (`make mariadb-up`), or on yours if DATABASE_URL is set.
db_env = DATABASE_URL="$$(cd $(CURDIR) && python -m compare.mariadb url $(1))" && export DATABASE_URL &&$(space)
else ifeq ($(DB),all)
db_env = $(error DB=all is for 'make compare'; app targets take DB=sqlite, DB=postgresql or DB=mariadb)
else
$(error DB must be sqlite, postgresql, mariadb or all (compare only), not '$(DB)')
endif
# The MariaDB driver is built from source; it is installed only when MariaDB is used.
needs_mariadb = $(if $(filter mariadb all,$(DB)),$(VENV)/.mariadb)

.DEFAULT_GOAL := help
.PHONY: help venv lock test lint format compare report teach list bench bench-compare bench-migrate bench-http clean pg-up pg-down pg-status \
	mariadb-driver mariadb-up mariadb-down mariadb-status \
	$(foreach fw,django flask fastapi,$(addprefix $(fw)-,run upgrade rollback generate current history sql check seed reset))

help: ## List the targets
	@echo "Usage: make <target> [DB=sqlite|postgresql|mariadb] [SCENARIO=name] [MSG='message'] [PORT=...] [FRAMEWORKS='django flask fastapi']"
	@echo
	@grep -hE '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# --- environment -----------------------------------------------------------------------------------------

venv: $(VENV)/.installed $(needs_mariadb) ## Create the virtualenv from requirements.lock (every target does this on first use)

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: Python 3.11+ is needed; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Use make PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	@touch $@

# mysqlclient has no Linux wheels: `compare.mariadb install` gets its build dependencies (apt-get, as root).
$(VENV)/.mariadb: $(VENV)/.installed requirements-mariadb.lock
	$(VENV)/bin/python -m compare.mariadb install
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-mariadb.lock
	@touch $@

lock: ## Re-pin requirements.lock (and requirements-mariadb.lock) from pyproject.toml (needs the network)
	$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv
	.tools/bin/uv pip compile pyproject.toml --group dev --python-version 3.11 --universal --generate-hashes \
		--no-emit-index-url --no-header -o requirements.lock
	.tools/bin/uv pip compile --group pyproject.toml:mariadb --python-version 3.11 --universal --generate-hashes \
		--no-emit-index-url --no-header -o requirements-mariadb.lock

# --- the main jobs ---------------------------------------------------------------------------------------

compare: venv ## Run the catalog (SCENARIO=name to pick one) for every framework -> reports/index.html
	python -m compare run $(foreach sc,$(or $(SCENARIO),all),--scenario $(sc)) \
		$(foreach fw,$(FRAMEWORKS),--framework $(fw)) --db $(if $(filter all,$(DB)),all,$(DB))

report: compare ## Same as compare: the reports are written from that run's measurements

teach: venv ## Replay a scenario step by step for a class: make teach [SCENARIO=..] [VARIANT=..] [FW=flask|all] [ARGS=--no-pause]
	python -m compare teach --scenario $(or $(SCENARIO),add_read_count) $(if $(VARIANT),--variant $(VARIANT)) \
		--framework $(or $(FW),all) --db $(if $(filter all,$(DB)),sqlite,$(DB)) $(ARGS)

list: venv ## List the catalog's scenarios and their variants
	python -m compare list

bench-compare: venv ## The catalog's CPU, floor and wall time per tool mode -> reports/bench-compare.json (DB=, ARGS=)
	python -m compare bench --db $(if $(filter all,$(DB)),all,$(DB)) $(ARGS)

bench-migrate: venv ## Migrations at N rows: time, rewrites, locks, raw-SQL ratio -> reports/bench-migrate.html (N=, DB=, SCENARIO=)
	python -m compare.bench_migrate --rows $(or $(N),1000000) --db $(if $(filter file,$(origin DB)),all,$(DB)) \
		$(foreach sc,$(SCENARIO),--scenario $(sc)) $(ARGS)

bench-http: venv ## HTTP load on every app x backend: requests/s, p50/p99 -> reports/bench-http.json (ARGS=--help)
	python -m benchmarks.http_load $(ARGS)

bench: bench-compare bench-http ## All benchmarks

# One worker per core, each taking whole test files, so a file's shared run is made once (README: Tests).
test: venv ## Run the whole test suite (contract, migrations, harness) on every core
	python -m pytest -n auto --dist loadfile --no-loadscope-reorder

lint: venv ## Ruff lint and format check
	ruff check .
	ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

clean: ## Remove the virtualenv, local databases and reports
	rm -rf $(VENV) .tools var reports

# --- PostgreSQL ------------------------------------------------------------------------------------------

pg-up: venv ## Start the project's throwaway PostgreSQL server (data in var/pg) and print its URL
	python -m compare.pg up

pg-down: venv ## Stop the project's PostgreSQL server
	python -m compare.pg down

pg-status: venv ## Is the project's PostgreSQL server running?
	python -m compare.pg status

# --- MariaDB ---------------------------------------------------------------------------------------------

mariadb-driver: $(VENV)/.mariadb ## Install MariaDB's server and driver (apt-get as root; mysqlclient from requirements-mariadb.lock)

mariadb-up: $(VENV)/.mariadb ## Start the project's throwaway MariaDB server (data in var/mariadb) and print its URLs
	python -m compare.mariadb up

mariadb-down: venv ## Stop the project's MariaDB server (and wait until its process is gone)
	python -m compare.mariadb down

mariadb-status: venv ## Is the project's MariaDB server running?
	python -m compare.mariadb status

# --- Django: its own migrations ----------------------------------------------------------------------------

django-run: PORT ?= 8001
django-run: venv ## Serve the Django blog on 127.0.0.1:8001 (PORT=... to change)
	@echo "API token for writes: $(BLOG_API_TOKEN)   e.g. curl -H 'Authorization: Bearer $(BLOG_API_TOKEN)' ..."
	cd django_blog && $(call db_env,django)gunicorn config.wsgi --bind 127.0.0.1:$(PORT) --workers 2 --threads 4

django-upgrade: venv ## Apply all migrations
	cd django_blog && $(call db_env,django)python manage.py migrate

django-rollback: venv ## Roll back one migration
	cd django_blog && $(call db_env,django)prev=$$(python manage.py showmigrations blog | \
		awk '/\[X\]/ {m[++n]=$$2} END {print (n > 1 ? m[n-1] : "zero")}') && \
		echo "python manage.py migrate blog $$prev" && python manage.py migrate blog $$prev

django-generate: venv ## Write a migration from the model changes (MSG names it)
	cd django_blog && $(call db_env,django)python manage.py makemigrations blog $(if $(MSG),--name "$(subst $() ,_,$(MSG))")

django-current: venv ## Which migrations are applied
	cd django_blog && $(call db_env,django)python manage.py showmigrations blog

django-history: venv ## The migration plan
	cd django_blog && $(call db_env,django)python manage.py showmigrations --plan blog

django-sql: venv ## The SQL of each migration (offline, as sqlmigrate renders it)
	cd django_blog && $(call db_env,django)for m in $$(ls blog/migrations | sed -n 's/^\(0[0-9]*_.*\)\.py$$/\1/p'); do \
		echo "python manage.py sqlmigrate blog $$m"; python manage.py sqlmigrate blog $$m || exit 1; done

django-check: venv ## Drift check: do models and migrations agree?
	cd django_blog && $(call db_env,django)python manage.py makemigrations --check --dry-run

django-seed: venv ## Load data/sample.json
	cd django_blog && $(call db_env,django)python manage.py seed

django-reset: venv ## Delete the Django app's local database
	$(if $(filter postgresql mariadb,$(DB)),python -m compare.$(if $(filter mariadb,$(DB)),mariadb,pg) reset django,rm -f var/django.sqlite3)

# --- Flask: Flask-SQLAlchemy + Flask-Migrate ----------------------------------------------------------------

flask-run: PORT ?= 8002
flask-run: venv ## Serve the Flask blog on 127.0.0.1:8002 (PORT=... to change)
	@echo "API token for writes: $(BLOG_API_TOKEN)   e.g. curl -H 'Authorization: Bearer $(BLOG_API_TOKEN)' ..."
	cd flask_blog && $(call db_env,flask)gunicorn wsgi:app --bind 127.0.0.1:$(PORT) --workers 2 --threads 4

flask-upgrade: venv ## Apply all migrations
	cd flask_blog && $(call db_env,flask)flask db upgrade

flask-rollback: venv ## Roll back one migration
	cd flask_blog && $(call db_env,flask)flask db downgrade

flask-generate: venv ## Autogenerate a migration from the model changes (MSG describes it)
	cd flask_blog && $(call db_env,flask)flask db migrate -m "$(or $(MSG),model changes)"

flask-current: venv ## The revision the database is at
	cd flask_blog && $(call db_env,flask)flask db current

flask-history: venv ## All revisions
	cd flask_blog && $(call db_env,flask)flask db history

flask-sql: venv ## The SQL of the upgrade (offline mode)
	cd flask_blog && $(call db_env,flask)flask db upgrade --sql

flask-check: venv ## Drift check: do models and migrations agree?
	cd flask_blog && $(call db_env,flask)flask db check

flask-seed: venv ## Load data/sample.json
	cd flask_blog && $(call db_env,flask)flask seed

flask-reset: venv ## Delete the Flask app's local database
	$(if $(filter postgresql mariadb,$(DB)),python -m compare.$(if $(filter mariadb,$(DB)),mariadb,pg) reset flask,rm -f var/flask.sqlite3)

# --- FastAPI: SQLAlchemy 2 + Alembic -------------------------------------------------------------------------

fastapi-run: PORT ?= 8003
fastapi-run: venv ## Serve the FastAPI blog on 127.0.0.1:8003 (PORT=... to change)
	@echo "API token for writes: $(BLOG_API_TOKEN)   e.g. curl -H 'Authorization: Bearer $(BLOG_API_TOKEN)' ..."
	cd fastapi_blog && $(call db_env,fastapi)uvicorn app.main:app --host 127.0.0.1 --port $(PORT) --workers 2

fastapi-upgrade: venv ## Apply all migrations
	cd fastapi_blog && $(call db_env,fastapi)alembic upgrade head

fastapi-rollback: venv ## Roll back one migration
	cd fastapi_blog && $(call db_env,fastapi)alembic downgrade -1

fastapi-generate: venv ## Autogenerate a migration from the model changes (MSG describes it)
	cd fastapi_blog && $(call db_env,fastapi)alembic revision --autogenerate -m "$(or $(MSG),model changes)"

fastapi-current: venv ## The revision the database is at
	cd fastapi_blog && $(call db_env,fastapi)alembic current

fastapi-history: venv ## All revisions
	cd fastapi_blog && $(call db_env,fastapi)alembic history

fastapi-sql: venv ## The SQL of the upgrade (offline mode)
	cd fastapi_blog && $(call db_env,fastapi)alembic upgrade head --sql

fastapi-check: venv ## Drift check: do models and migrations agree?
	cd fastapi_blog && $(call db_env,fastapi)alembic check

fastapi-seed: venv ## Load data/sample.json
	cd fastapi_blog && $(call db_env,fastapi)python -m app.seed

fastapi-reset: venv ## Delete the FastAPI app's local database
	$(if $(filter postgresql mariadb,$(DB)),python -m compare.$(if $(filter mariadb,$(DB)),mariadb,pg) reset fastapi,rm -f var/fastapi.sqlite3)
