PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/merp
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
RUN_ADDR ?= 127.0.0.1:8000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/merp_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-cluster install install-dev lint bench bench-full bench-http test-scale

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py merp_seed_demo
	@# With REDIS_URL, a Celery worker and beat run beside the server and stop with it.
	@pids=""; if [ -n "$$REDIS_URL" ]; then \
	  $(BIN)/celery -A merp worker --loglevel INFO & pids="$$pids $$!"; \
	  $(BIN)/celery -A merp beat --loglevel INFO --schedule $(VENV)/celerybeat-schedule & pids="$$pids $$!"; \
	fi; \
	trap 'kill $$pids 2>/dev/null; wait' EXIT INT TERM; \
	echo "Serving http://$(RUN_ADDR)/ -- admin: http://$(RUN_ADDR)/admin/" \
	  "API docs: http://$(RUN_ADDR)/api/docs/ (ReDoc: http://$(RUN_ADDR)/api/redoc/)"; \
	if [ -n "$$REDIS_URL" ]; then \
	  echo "Redis mode (REDIS_URL set): Celery worker and beat started, events go to the streams"; \
	else \
	  echo "No REDIS_URL: tasks run in-process, events stay in the outbox"; \
	fi; \
	$(BIN)/python manage.py runserver $(RUN_ADDR)

test: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest $(PYTEST_ARGS)

# The events suite against a throw-away Redis Cluster of three masters
# (redis-server and redis-cli on PATH; ports CLUSTER_PORTS and each + 10000): the
# streams and the cache on the cluster, the Celery broker on TEST_REDIS_URL.
CLUSTER_PORTS ?= 7101,7102,7103
test-cluster: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/python -m tests.rediscluster --ports $(CLUSTER_PORTS) -- \
	  $(BIN)/pytest tests/events $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# Layers and plug-in independence ([tool.importlinter] in pyproject.toml).
	$(BIN)/lint-imports

# Benchmarks on their own PostgreSQL database and Redis db (docs/performance.md).
bench: install-dev
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) \
	  $(BIN)/python -m bench all $(BENCH_ARGS)

bench-full: install-dev
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) \
	  $(BIN)/python -m bench all --full $(BENCH_ARGS)

# M-ERP and the hand-written baseline app side by side under gunicorn (also in bench).
bench-http: install-dev
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) \
	  $(BIN)/python -m bench http $(BENCH_ARGS)

# Scale-out on real engines (docs/scaling.md): a streaming replica (port
# SCALE_REPLICA_PORT), a suite through PgBouncer in transaction mode
# (SCALE_PGBOUNCER_PORT), the load test (gunicorn on SCALE_LOAD_WEB_PORT, two
# Celery workers, PgBouncer, a replica, Redis SCALE_LOAD_REDIS_URL), after the
# events suite on Redis Cluster (test-cluster). Needs the PostgreSQL server
# binaries, pgbouncer and redis-server (.ci/run installs them).
SCALE_REPLICA_PORT ?= 5440
SCALE_PGBOUNCER_PORT ?= 6440
SCALE_LOAD_PGBOUNCER_PORT ?= 6441
SCALE_LOAD_REPLICA_PORT ?= 5441
SCALE_LOAD_REPLICA_PGBOUNCER_PORT ?= 6442
SCALE_LOAD_WEB_PORT ?= 8850
SCALE_LOAD_REDIS_URL ?= redis://127.0.0.1:6379/7
SCALE_LOAD_USERS ?= 50
SCALE_LOAD_SECONDS ?= 60
# The suite run through PgBouncer: the production processes (gunicorn, the
# relay in Celery), the events suite and the API's reads and writes.
SCALE_PGBOUNCER_TESTS ?= tests/scale/test_pooler.py tests/e2e tests/events \
  tests/businessobjects/test_api.py tests/extensions/test_api_values.py \
  tests/extensions/test_index_walk.py tests/audit/test_history_api.py
SCALE_REPLICA_URL = $(shell echo '$(TEST_DATABASE_URL)' | \
  sed -E 's#@[^/]+/#@127.0.0.1:$(SCALE_REPLICA_PORT)/#')

test-scale: install-dev test-cluster
	DATABASE_URL=$(TEST_DATABASE_URL) DATABASE_REPLICA_URL=$(SCALE_REPLICA_URL) \
	  REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest tests/scale/test_replica.py $(PYTEST_ARGS)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	  $(BIN)/python -m tests.scale.engines pgbouncer --port $(SCALE_PGBOUNCER_PORT) -- \
	  $(BIN)/pytest $(SCALE_PGBOUNCER_TESTS) $(PYTEST_ARGS)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) MERP_TEST_LOAD=1 \
	  MERP_LOAD_REDIS_URL=$(SCALE_LOAD_REDIS_URL) MERP_LOAD_USERS=$(SCALE_LOAD_USERS) \
	  MERP_LOAD_SECONDS=$(SCALE_LOAD_SECONDS) MERP_LOAD_WEB_PORT=$(SCALE_LOAD_WEB_PORT) \
	  MERP_LOAD_PGBOUNCER_PORT=$(SCALE_LOAD_PGBOUNCER_PORT) \
	  MERP_LOAD_REPLICA_PORT=$(SCALE_LOAD_REPLICA_PORT) \
	  MERP_LOAD_REPLICA_PGBOUNCER_PORT=$(SCALE_LOAD_REPLICA_PGBOUNCER_PORT) \
	  $(BIN)/pytest -s tests/scale/test_load.py $(PYTEST_ARGS)
