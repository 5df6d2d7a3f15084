"""Settings for M-ERP, read from the environment (see README and docs/operations)."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

SECRET_KEY = env(
    "SECRET_KEY", default="merp-dev-insecure-secret-key-change-me-in-production"
)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"]
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    # Swagger UI and ReDoc served from the installation, never from a CDN.
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "businessobjects",
    "extensions",
    "audit",
    "events",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, Swagger UI, ReDoc) served by the web process itself,
    # with DEBUG=false too, from STATIC_ROOT after collectstatic.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "businessobjects.middleware.RequestContextMiddleware",
    # Only with DATABASE_REPLICA_URL: list reads on the replica, a writer's next
    # reads on the primary (docs/scaling.md#read-replica).
    *(
        ["businessobjects.routing.ReplicaRoutingMiddleware"]
        if env("DATABASE_REPLICA_URL", default="")
        else []
    ),
    "audit.middleware.ChangeReasonMiddleware",
    # Last, as django-axes asks: turns an admin login lockout into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "merp.urls"
WSGI_APPLICATION = "merp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# SQLite (make run): the server and, in Redis mode, the Celery worker write to
# the same file. A deferred transaction that reads before it writes (every
# service call, an undo) fails at once with "database is locked" when the other
# wrote meanwhile; BEGIN IMMEDIATE takes the write lock first and waits instead.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "transaction_mode", "IMMEDIATE"
    )
# A streaming replica of the primary (docs/scaling.md#read-replica): list,
# history, audit and event reads of the API go there, except for a client that
# has just written (businessobjects.routing). Unset: one database, as before.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"].setdefault(
        "CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"]
    )
    # In tests the replica serves the test database the primary creates (the
    # streaming replica copies the whole cluster): same NAME, its own HOST/PORT.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["businessobjects.routing.ReplicaRouter"]
# DATABASE_POOLER=pgbouncer: DATABASE_URL (and DATABASE_REPLICA_URL) point at
# PgBouncer in transaction pooling mode, where consecutive transactions of one
# connection may run on different server connections: no server-side cursors
# (they live across transactions) and no prepared statements (psycopg's are per
# server connection; PgBouncer < 1.21 cannot track them).
DATABASE_POOLER = env("DATABASE_POOLER", default="")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(
        f"DATABASE_POOLER must be empty or pgbouncer, not {DATABASE_POOLER!r}"
    )
if DATABASE_POOLER:
    for _database in DATABASES.values():
        _database["DISABLE_SERVER_SIDE_CURSORS"] = True
        _database.setdefault("OPTIONS", {})["prepare_threshold"] = None
        _database["OPTIONS"]["server_side_binding"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login lockout (django-axes): after LOGIN_FAILURE_LIMIT failed logins of one
# username from one address (admin and API token alike), that pair is refused for
# LOGIN_COOLOFF_MINUTES; other users and addresses are unaffected. Its backend
# comes first: it refuses a locked-out pair before the password is checked.
AUTHENTICATION_BACKENDS = [
    "businessobjects.auth.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not extend it: the wait stays predictable.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "businessobjects.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "businessobjects.auth.lockout_response"
# One row per successful login would grow without bound; failures are kept.
AXES_DISABLE_ACCESS_LOG = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

REDIS_URL = env("REDIS_URL", default="")
# The cache's Redis (default REDIS_URL); ``redis+cluster://node:port`` names a
# Redis Cluster (docs/scaling.md, "Redis Cluster").
CACHE_REDIS_URL = env("CACHE_REDIS_URL", default=REDIS_URL)

if CACHE_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CACHE_REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="merp"),
            # An unreachable (not refusing) Redis must not stall requests: the
            # definitions cache falls back to the database on errors.
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": env.float(
                    "REDIS_CONNECT_TIMEOUT", default=2.0
                ),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=2.0),
            },
        }
    }
    if CACHE_REDIS_URL.startswith(("redis+cluster://", "rediss+cluster://")):
        CACHES["default"]["OPTIONS"]["CONNECTION_FACTORY"] = (
            "businessobjects.redisclient.ClusterConnectionFactory"
        )
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: the Redis broker when configured, otherwise tasks run eagerly in-process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not (REDIS_URL or env("CELERY_BROKER_URL", default=""))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# An unacked task is redelivered after this; it must exceed any countdown/eta we use.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A forwarding task that loses the broker connection finishes its batch: killing
# it between XADD and marking the rows sent would only send them twice (its
# redelivered message then finds nothing to do).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery 5.7.0's consumer dies when Redis restarts with a task in flight
# (AttributeError ... 'hostname'); merp.celery.Consumer closes the dead
# connection once (docs/troubleshooting.md).
CELERY_WORKER_CONSUMER = "merp.celery:Consumer"

# Framework settings, read only through businessobjects.conf.merp_settings (its
# DEFAULTS document each key); override them with override_settings(MERP=...).
MERP = {
    "AUDIT_ENABLED": env.bool("AUDIT_ENABLED", default=True),
    "EVENT_PUBLISHING_ENABLED": env.bool("EVENT_PUBLISHING_ENABLED", default=True),
    "REDIS_URL": REDIS_URL,
    "EVENT_STREAM_PREFIX": env("MERP_EVENT_STREAM_PREFIX", default=""),
    "EVENT_STREAM_MAXLEN": env.int("MERP_EVENT_STREAM_MAXLEN", default=1_000_000),
    "EVENT_RETENTION_DAYS": env.int("MERP_EVENT_RETENTION_DAYS", default=7),
    "EVENT_REDIS_URL": env("MERP_EVENT_REDIS_URL", default=REDIS_URL),
    "EVENT_REDIS_CLUSTER": env.bool("MERP_EVENT_REDIS_CLUSTER", default=False),
    "EVENT_FORWARD_BATCH_SIZE": env.int("MERP_EVENT_FORWARD_BATCH_SIZE", default=1000),
    "EVENT_FORWARD_LANES": env.int("MERP_EVENT_FORWARD_LANES", default=2),
    "EVENT_SWEEP_INTERVAL": env.int("MERP_EVENT_SWEEP_INTERVAL", default=30),
    "EVENT_CLAIM_MIN_IDLE_MS": env.int("MERP_EVENT_CLAIM_MIN_IDLE_MS", default=60_000),
    "EVENT_CONSUMER_NAME": env("MERP_CONSUMER_NAME", default=""),
    "EVENT_SEQUENCE_BATCH_SIZE": env.int(
        "MERP_EVENT_SEQUENCE_BATCH_SIZE", default=5000
    ),
    "EVENT_PRUNE_BATCH_SIZE": env.int("MERP_EVENT_PRUNE_BATCH_SIZE", default=5000),
    "EVENT_FORWARD_KICK_TTL": env.int("MERP_EVENT_FORWARD_KICK_TTL", default=10),
    "EVENT_DEFERRED_RETRY_SECONDS": env.int(
        "MERP_EVENT_DEFERRED_RETRY_SECONDS", default=1
    ),
    "PAGE_SIZE": env.int("MERP_PAGE_SIZE", default=50),
    "MAX_PAGE_SIZE": env.int("MERP_MAX_PAGE_SIZE", default=500),
    "BULK_BATCH_SIZE": env.int("MERP_BULK_BATCH_SIZE", default=1000),
    "OUTBOX_WARN_PENDING": env.int("MERP_OUTBOX_WARN_PENDING", default=1_000),
    "OUTBOX_WARN_AGE": env.int("MERP_OUTBOX_WARN_AGE", default=300),
    "OUTBOX_FAIL_PENDING": env.int("MERP_OUTBOX_FAIL_PENDING", default=100_000),
    "OUTBOX_FAIL_AGE": env.int("MERP_OUTBOX_FAIL_AGE", default=3_600),
    "HEALTH_TIMEOUT": env.float("MERP_HEALTH_TIMEOUT", default=1.0),
    "CELERY_APP": env("MERP_CELERY_APP", default="merp.celery.app"),
    "READINESS_CHECKS": {"webhooks": "webhooks.health.DeliveryBacklog"},
    "EXTENSIONS_CACHE_TIMEOUT": env.int("MERP_EXTENSIONS_CACHE_TIMEOUT", default=300),
    "EXTENSIONS_FILTER_INDEX_WALK": env.bool(
        "MERP_EXTENSIONS_FILTER_INDEX_WALK", default=True
    ),
    "EXTENSIONS_JSON_MAX_DEPTH": env.int("MERP_EXTENSIONS_JSON_MAX_DEPTH", default=32),
    "EXTENSIONS_JSON_MAX_BYTES": env.int(
        "MERP_EXTENSIONS_JSON_MAX_BYTES", default=64 * 1024
    ),
    # The admin's branding and "View site" link (empty: hidden).
    "ADMIN_SITE_HEADER": env("MERP_ADMIN_SITE_HEADER", default="M-ERP back office"),
    "ADMIN_SITE_TITLE": env("MERP_ADMIN_SITE_TITLE", default="M-ERP back office"),
    "ADMIN_INDEX_TITLE": env(
        "MERP_ADMIN_INDEX_TITLE", default="Business objects and settings"
    ),
    "ADMIN_SITE_URL": env("MERP_ADMIN_SITE_URL", default="/api/docs/"),
    # Webhooks (docs/webhooks.md).
    "WEBHOOK_ALLOW_PRIVATE": env.bool("MERP_WEBHOOK_ALLOW_PRIVATE", default=False),
    "WEBHOOK_TIMEOUT": env.float("MERP_WEBHOOK_TIMEOUT", default=10.0),
    "WEBHOOK_RETRY_SCHEDULE": [
        float(s)
        for s in env.list(
            "MERP_WEBHOOK_RETRY_SCHEDULE", default=[5, 300, 1800, 7200, 18000, 36000]
        )
    ],
    "WEBHOOK_LEASE_MARGIN": env.float("MERP_WEBHOOK_LEASE_MARGIN", default=60.0),
    "WEBHOOK_SWEEP_INTERVAL": env.float("MERP_WEBHOOK_SWEEP_INTERVAL", default=10),
    "WEBHOOK_RETENTION_DAYS": env.int("MERP_WEBHOOK_RETENTION_DAYS", default=30),
}
# simple-history's own switch follows ours (check audit.W001 warns when they differ).
SIMPLE_HISTORY_ENABLED = MERP["AUDIT_ENABLED"]

# Periodic tasks (celery -A merp beat). Expiring sweeps do not pile up while
# workers are down: the next one does the same work.
CELERY_BEAT_SCHEDULE = {
    "events-forward-outbox": {
        "task": "events.tasks.forward_outbox",
        "schedule": MERP["EVENT_SWEEP_INTERVAL"],
        "options": {"expires": MERP["EVENT_SWEEP_INTERVAL"]},
    },
    "events-prune-outbox": {
        "task": "events.tasks.prune_outbox",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "webhooks-sweep": {
        "task": "webhooks.tasks.sweep",
        "schedule": MERP["WEBHOOK_SWEEP_INTERVAL"],
        "options": {"expires": MERP["WEBHOOK_SWEEP_INTERVAL"]},
    },
    "webhooks-prune": {
        "task": "webhooks.tasks.prune_deliveries",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, reading the company's membership with it.
        "businessobjects.api.authentication.CompanyTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON with the body size limit and nesting depth answered as 4xx.
    "DEFAULT_PARSER_CLASSES": [
        "businessobjects.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": (
        "businessobjects.api.pagination.BusinessObjectPagination"
    ),
    "PAGE_SIZE": MERP["PAGE_SIZE"],
    "DEFAULT_SCHEMA_CLASS": "businessobjects.api.schema.MerpAutoSchema",
    "EXCEPTION_HANDLER": "businessobjects.api.exceptions.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # POST /api/auth/token/: per username and client address, and per address.
    "DEFAULT_THROTTLE_RATES": {
        "login": env("LOGIN_RATE", default="5/min"),
        "login_ip": env("LOGIN_RATE_IP", default="30/min"),
    },
    # The client address is REMOTE_ADDR unless NUM_PROXIES trusted proxies in
    # front append it to X-Forwarded-For (a client can forge that header).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "M-ERP API",
    "DESCRIPTION": "Company-scoped business objects: custom fields, audit, events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Request bodies documented as JSON only, so generated clients send JSON (an
    # `extensions` object has no form encoding). The parsers accepted at run
    # time are REST_FRAMEWORK's.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# LOG_FORMAT=json: one JSON object per line. Every line carries correlation_id,
# company_id and user_id (businessobjects.log.ContextFilter).
LOG_FORMAT = env("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "businessobjects.log.ContextFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s%(merp_context)s %(message)s"
        },
        "json": {"()": "businessobjects.log.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Failed logins and lockouts are warnings; successes need no line.
        "axes": {"level": "WARNING"},
    },
}
