import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.conf import settings


@pytest.fixture
def celery_worker_app():
    """Return a Celery app on the test Redis with a real worker running (a thread)."""
    # fixups=[]: Celery's Django fixup would close the test's database connection.
    app = Celery(
        "merp_test_worker",
        broker=settings.REDIS_URL,
        set_as_current=False,
        fixups=[],
    )
    with start_worker(app, perform_ping_check=False, loglevel="error"):
        yield app


@pytest.fixture
def eager_celery():
    """Run the project's Celery app eagerly (as without REDIS_URL): no worker to ask."""
    from merp.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous
