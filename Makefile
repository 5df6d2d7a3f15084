PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/merp
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
RUN_ADDR ?= 127.0.0.1:8000
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/merp_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-cluster install install-dev lint bench bench-full bench-http

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
