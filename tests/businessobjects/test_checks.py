"""Every framework check id, failing and passing, against real PostgreSQL and Redis."""

import datetime
from pathlib import Path

import pytest
from celery import Celery
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import connection, connections, models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import isolate_apps, override_settings
from django.utils import timezone

from businessobjects import diagnostics, services
from businessobjects.checks import (
    check_business_objects,
    check_database,
    check_production_settings,
    check_services,
)
from businessobjects.models import BusinessObject, Partner
from events.models import OutboxEvent
from tests.utils import override_merp

CLOSED_REDIS = "redis://127.0.0.1:1/0"

SAFE = {
    "DEBUG": False,
    "SECRET_KEY": "k7Jx3-production-secret-9f2cWq0LmZt8vYbN4rHs6uPe1aDg5",
    "ALLOWED_HOSTS": ["erp.example.com"],
}


def ids(messages) -> list[str]:
    return [m.id for m in messages]


# -- registration --------------------------------------------------------------


def test_checks_are_registered_with_tags():
    everyday = checks.registry.registry.get_checks(include_deployment_checks=False)
    deploy = checks.registry.registry.get_checks(include_deployment_checks=True)
    assert check_business_objects in everyday
    assert "models" in check_business_objects.tags
    for check in (check_production_settings, check_database, check_services):
        assert check not in everyday, "network/deploy checks must not slow runserver"
        assert check in deploy
        assert "merp" in check.tags
    assert "database" in check_database.tags


@pytest.mark.django_db
def test_run_checks_with_tag_reports_framework_problems():
    with override_merp(REDIS_URL=CLOSED_REDIS):
        messages = checks.run_checks(
            tags=["merp"], include_deployment_checks=True, databases=["default"]
        )
    assert "businessobjects.E013" in ids(messages)


# -- business objects: E001-E004 ---------------------------------------------------


def test_shipped_and_test_objects_pass():
    assert check_business_objects() == []
    outcome = diagnostics.business_objects()
    assert outcome.status == diagnostics.PASS
    assert "partner" in outcome.summary and "product" in outcome.summary


@isolate_apps("tests.testapp")
def test_unregistered_model_without_history_fails_e001_e002():
    class Gadget(BusinessObject):
        name = models.CharField(max_length=20)

        class Meta:
            app_label = "testapp"

    messages = check_business_objects(app_configs=[Gadget._meta.app_config])
    assert ids(messages) == ["businessobjects.E001", "businessobjects.E002"]
    assert all(m.obj is Gadget for m in messages)
    assert "register" in messages[0].hint
    assert "history" in messages[1].msg


@isolate_apps("tests.testapp")
def test_unscoped_manager_fails_e003():
    class Leaky(BusinessObject):
        everything = models.Manager()

        class Meta:
            app_label = "testapp"

    messages = check_business_objects(app_configs=[Leaky._meta.app_config])
    e003 = [m for m in messages if m.id == "businessobjects.E003"]
    assert len(e003) == 1
    assert "Leaky.everything" in e003[0].msg
    assert "CompanyQuerySet" in e003[0].hint


@isolate_apps("tests.testapp")
def test_unique_rule_without_company_fails_e004():
    class Coded(BusinessObject):
        code = models.CharField(max_length=20, unique=True)
        sku = models.CharField(max_length=20)
        ean = models.CharField(max_length=20)

        class Meta:
            app_label = "testapp"
            constraints = [
                models.UniqueConstraint(fields=["sku"], name="coded_sku"),
                models.UniqueConstraint(fields=["company", "ean"], name="coded_ean"),
            ]

    messages = [
        m
        for m in check_business_objects(app_configs=[Coded._meta.app_config])
        if m.id == "businessobjects.E004"
    ]
    assert len(messages) == 2
    text = " ".join(m.msg for m in messages)
    assert "'code'" in text and "coded_sku" in text
    assert "coded_ean" not in text
    assert "company_id" in messages[0].hint


# -- settings: W001-W005 ---------------------------------------------------------


def test_safe_production_settings_pass():
    with override_settings(**SAFE):
        assert check_production_settings() == []
        assert diagnostics.production_settings().status == diagnostics.PASS


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"DEBUG": True}, "businessobjects.W001"),
        ({"SECRET_KEY": "merp-dev-insecure-x"}, "businessobjects.W002"),
        ({"ALLOWED_HOSTS": ["*"]}, "businessobjects.W003"),
        ({"MERP": {"AUDIT_ENABLED": False}}, "businessobjects.W004"),
        ({"MERP": {"EVENT_PUBLISHING_ENABLED": False}}, "businessobjects.W005"),
    ],
)
def test_unsafe_setting_warns(overrides, check_id):
    with override_settings(**{**SAFE, **overrides}):
        messages = check_production_settings()
    assert ids(messages) == [check_id]
    assert messages[0].level == checks.WARNING
    assert messages[0].hint


def test_the_shipped_dev_secret_key_is_recognised():
    # W002 recognises the development default of merp/settings.py by its prefix.
    source = (Path(__file__).resolve().parents[2] / "merp" / "settings.py").read_text()
    assert f'default="{diagnostics.DEV_SECRET_KEY_PREFIX}' in source


# -- database: E010-E012 -----------------------------------------------------------


@pytest.mark.django_db
def test_database_checks_pass_on_a_migrated_database():
    assert check_database(databases=["default"]) == []
    assert diagnostics.database().status == diagnostics.PASS
    assert diagnostics.migrations().summary.startswith("all ")


def test_database_checks_only_run_for_requested_databases():
    # No database access here: pytest-django would refuse it.
    assert check_database() == []


def test_unreachable_database_fails_e010():
    settings_dict = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": "1"}
    unreachable = type(connections["default"])(settings_dict, alias="unreachable")
    try:
        outcome = diagnostics.database(unreachable)
        assert ids(outcome.messages) == ["businessobjects.E010"]
        assert "DATABASE_URL" in outcome.messages[0].hint
        assert ids(diagnostics.migrations(unreachable).messages) == [
            "businessobjects.E011"
        ]
        assert ids(diagnostics.tables(connection=unreachable).messages) == [
            "businessobjects.E012"
        ]
    finally:
        unreachable.close()


@pytest.mark.django_db
def test_unapplied_migration_fails_e011():
    leaf = sorted(MigrationExecutor(connection).loader.graph.leaf_nodes())[0]
    # Forget that the leaf migration ran (rolled back with the test transaction).
    MigrationRecorder(connection).record_unapplied(*leaf)
    messages = diagnostics.migrations().messages
    assert ids(messages) == ["businessobjects.E011"]
    assert f"{leaf[0]}.{leaf[1]}" in messages[0].msg
    assert "migrate" in messages[0].hint
    assert "businessobjects.E011" in ids(check_database(databases=["default"]))


def _apps_with_tables():
    return [
        label
        for label in diagnostics.FRAMEWORK_APPS
        if any(m._meta.managed for m in apps.get_app_config(label).get_models())
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("app_label", _apps_with_tables())
def test_missing_framework_table_fails_e012(app_label):
    model = next(iter(apps.get_app_config(app_label).get_models()))
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # DDL is transactional in PostgreSQL: the test's rollback restores it.
        cursor.execute(f'DROP TABLE "{table}" CASCADE')
    messages = diagnostics.tables().messages
    assert ids(messages) == ["businessobjects.E012"]
    assert table in messages[0].msg


@pytest.mark.django_db
def test_extension_tables_are_read_from_the_app_at_run_time():
    summary = diagnostics.tables().summary
    extension_models = list(apps.get_app_config("extensions").get_models())
    assert f"extensions {len(extension_models)}" in summary


def test_uninstalled_framework_app_fails_e012():
    outcome = diagnostics.tables(app_labels=["no_such_app"])
    assert ids(outcome.messages) == ["businessobjects.E012"]
    assert "INSTALLED_APPS" in outcome.messages[0].hint


# -- Redis and Celery: E013, E014 --------------------------------------------------


def test_redis_reachable_passes():
    assert settings.REDIS_URL, "the test suite runs with REDIS_URL set"
    assert diagnostics.redis().status == diagnostics.PASS


def test_redis_not_configured_passes():
    with override_merp(REDIS_URL=""):
        outcome = diagnostics.redis()
    assert outcome.status == diagnostics.PASS
    assert "not configured" in outcome.summary


def test_stopped_redis_fails_e013():
    with override_merp(REDIS_URL=CLOSED_REDIS):
        messages = check_services()
    assert "businessobjects.E013" in ids(messages)
    e013 = messages[ids(messages).index("businessobjects.E013")]
    assert "127.0.0.1:1" in e013.msg


def test_redis_password_is_not_shown():
    with override_merp(REDIS_URL="redis://:s3cret@127.0.0.1:1/0"):
        message = diagnostics.redis().messages[0].msg
    assert "s3cret" not in message and "***" in message


def test_eager_celery_passes():
    app = Celery("merp_eager", set_as_current=False)
    app.conf.task_always_eager = True
    assert diagnostics.celery_workers(app).status == diagnostics.PASS


def test_celery_with_stopped_broker_fails_e014():
    app = Celery("merp_down", broker=CLOSED_REDIS, set_as_current=False)
    messages = diagnostics.celery_workers(app).messages
    assert ids(messages) == ["businessobjects.E014"]
    assert "broker" in messages[0].msg


def test_celery_without_worker_fails_e014():
    app = Celery("merp_idle", broker=settings.REDIS_URL, set_as_current=False)
    messages = diagnostics.celery_workers(app).messages
    assert ids(messages) == ["businessobjects.E014"]
    assert "no worker answered" in messages[0].msg
    assert "celery -A merp worker" in messages[0].hint


def test_celery_with_a_worker_passes(celery_worker_app):
    outcome = diagnostics.celery_workers(celery_worker_app)
    assert outcome.messages == []
    assert outcome.summary == "1 worker(s) answered"


# -- outbox: W015, E015 ---------------------------------------------------------


@pytest.fixture
def pending_events(company_a):
    for name in ("One", "Two", "Three"):
        services.create(Partner, data={"name": name}, company=company_a)
    return OutboxEvent.objects.filter(sent_at__isnull=True)


def _limits(**values):
    return override_settings(MERP={**settings.MERP, **values})


@pytest.mark.django_db
def test_small_outbox_backlog_passes(pending_events):
    outcome = diagnostics.outbox_backlog(forwarding=True)
    assert outcome.status == diagnostics.PASS
    assert outcome.summary.startswith("3 pending, oldest")


@pytest.mark.django_db
def test_outbox_backlog_over_warn_limit_warns_w015(pending_events):
    with _limits(OUTBOX_WARN_PENDING=2):
        messages = diagnostics.outbox_backlog(forwarding=True).messages
    assert ids(messages) == ["businessobjects.W015"]
    assert "3 pending" in messages[0].msg


@pytest.mark.django_db
def test_old_outbox_event_fails_e015(pending_events):
    pending_events.update(occurred_at=timezone.now() - datetime.timedelta(hours=2))
    with _limits(OUTBOX_FAIL_AGE=3600):
        messages = diagnostics.outbox_backlog(forwarding=True).messages
    assert ids(messages) == ["businessobjects.E015"]
    assert "2.0 h old" in messages[0].msg
    assert "merp_publish_outbox" in messages[0].hint


@pytest.mark.django_db
def test_outbox_backlog_without_redis_is_expected(pending_events):
    pending_events.update(occurred_at=timezone.now() - datetime.timedelta(days=2))
    with override_merp(REDIS_URL=""):
        outcome = diagnostics.outbox_backlog()
    assert outcome.status == diagnostics.PASS
    assert "REDIS_URL is not set" in outcome.summary


@pytest.mark.django_db
def test_sent_events_are_not_backlog(pending_events):
    pending_events.update(sent_at=timezone.now())
    assert diagnostics.outbox_backlog(forwarding=True).summary == "0 pending"
