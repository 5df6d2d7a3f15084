import pytest

from events import checks


def ids(messages):
    return [m.id for m in messages]


def test_settings_pass():
    assert checks.check_stream_maxlen() == []
    assert checks.check_visibility_timeout() == []
    assert checks.check_celery_keeps_work() == []


@pytest.mark.parametrize("maxlen", [0, -5, "1000", None])
def test_e001_bad_maxlen(settings, maxlen):
    settings.MERP = {**settings.MERP, "EVENT_STREAM_MAXLEN": maxlen}
    assert ids(checks.check_stream_maxlen()) == ["events.E001"]


def test_e002_visibility_timeout_shorter_than_backoff(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 120}
    settings.MERP = {**settings.MERP, "EVENT_RETRY_BACKOFF_MAX": 300}
    [error] = checks.check_visibility_timeout()
    assert error.id == "events.E002" and "visibility_timeout" in error.hint


def test_w001_celery_settings_that_lose_work(settings):
    settings.CELERY_TASK_ACKS_LATE = False
    settings.CELERY_WORKER_PREFETCH_MULTIPLIER = 4
    [warning] = checks.check_celery_keeps_work()
    assert warning.id == "events.W001"
    assert "CELERY_TASK_ACKS_LATE" in warning.msg
    assert "CELERY_WORKER_PREFETCH_MULTIPLIER = 1" in warning.hint


def test_beat_schedule_points_at_the_tasks():
    from django.conf import settings

    from merp.celery import app

    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks >= {"events.tasks.forward_outbox", "events.tasks.prune_outbox"}
    assert tasks <= set(app.tasks)
