"""Settings, read from the environment with embedded defaults.

Every setting a deployment may change is an environment variable; the README lists
them. ``LIFECYCLE_PRODUCTION=1`` switches to production mode, which refuses to start
without SECRET_KEY and ALLOWED_HOSTS and turns on the security settings that
``manage.py check --deploy`` asks for.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LIFECYCLE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item]


PRODUCTION = env_bool("LIFECYCLE_PRODUCTION")
TESTING = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")

# Development defaults: production refuses them (copied from a README or a .env
# example, they are known to everyone).
DEV_SECRET_KEY = "dev-only-insecure-key-change-me-0123456789-abcdefghijklmnop"  # noqa: S105
DEV_MODEL_SIGNING_KEY = "dev-only-model-signing-key"

if PRODUCTION:
    for required in ("SECRET_KEY", "ALLOWED_HOSTS", "MODEL_SIGNING_KEY"):
        if not os.environ.get(required):
            raise ImproperlyConfigured(f"{required} must be set in production mode")
    for name, dev_default in (
        ("SECRET_KEY", DEV_SECRET_KEY),
        ("MODEL_SIGNING_KEY", DEV_MODEL_SIGNING_KEY),
    ):
        if os.environ[name].strip() == dev_default:
            raise ImproperlyConfigured(
                f"{name} is the development default, which everyone knows: set a "
                "long random value in production mode (e.g. python -c 'import "
                "secrets; print(secrets.token_urlsafe(50))')"
            )
    SECRET_KEY = os.environ["SECRET_KEY"]
    DEBUG = False
else:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    DEBUG = env_bool("DEBUG", default=False)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Models are signed with their own key so that rotating SECRET_KEY does not orphan
# them, and a leaked SECRET_KEY does not let anyone forge a model file.
MODEL_SIGNING_KEY = os.environ.get("MODEL_SIGNING_KEY", DEV_MODEL_SIGNING_KEY)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    "django_htmx",
    "axes",
    "ninja",
    "projects",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "projects.uploads.ChunkedUploadMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "projects.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "projects.middleware.UploadTooLargeMiddleware",
    # Last, as django-axes asks: turns a lockout into the login page's message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lifecycle_app.urls"
WSGI_APPLICATION = "lifecycle_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "projects.context_processors.approvals",
            ],
        },
    },
]

# Database: SQLite by default (WAL, a busy timeout and IMMEDIATE transactions so that
# the web process and workers do not trip over "database is locked"); PostgreSQL
# through DATABASE_URL.
SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite creates the file but not its folder (a fresh clone has no var/).
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA busy_timeout=30000;"
        ),
    }
    # A file, not memory, so that worker processes started by tests see the rows.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")
    }
# Connections are kept (per process and thread) instead of opened per request: a
# new SQLite connection with its PRAGMAs costs about 1.7 ms, a PostgreSQL one more,
# which a one-row prediction (B6) would pay on every request.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 60)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "projects.security.LoginBackend",
]
LOGIN_URL = "login"

# Where gunicorn listens (bin/run-all: --bind $HOST:$PORT). The seed_demo logins
# work only on a loopback HOST outside production mode (projects/security.py).
HOST = os.environ.get("HOST", "127.0.0.1")
# Reverse proxies in front of the app that append to X-Forwarded-For. 0: the
# client address is REMOTE_ADDR alone, and X-Forwarded-For is ignored.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Login lockout (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username
# from one address lock that pair for LOGIN_LOCKOUT_MINUTES; the right password is
# refused meanwhile. `manage.py axes_reset_username NAME` unlocks early.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "projects.security.client_ip"
AXES_LOCKOUT_CALLABLE = "projects.views.accounts.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = not TESTING

# API rate limits (django-ninja throttling): requests per token (or logged-in
# user) and per client address for requests without one. "N/s", "N/min",
# "N/hour", "N/day". Counted in Redis so that every gunicorn process shares them;
# if Redis is down the limits are not applied (fail open, logged).
API_RATE_USER = os.environ.get("API_RATE_USER", "600/min")
API_RATE_ANON = os.environ.get("API_RATE_ANON", "120/min")
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Static files: our own, plus plotly.js served straight from the plotly package so
# that nothing is copied by hand and nothing comes from a CDN.
STATIC_URL = "/static/"
# Only production serves collected files; elsewhere WhiteNoise uses the finders.
STATIC_ROOT = VAR_DIR / "staticfiles" if PRODUCTION else None
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", Path(plotly.__file__).parent / "package_data"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media-not-served/"  # files are downloaded by object id, never by path

# Uploads: the cap is enforced while streaming by projects.uploads.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 200 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = ["projects.uploads.CappedUploadHandler"]
FILE_UPLOAD_TEMP_DIR = os.environ.get("FILE_UPLOAD_TEMP_DIR") or None
DATASET_MAX_ROWS = env_int("DATASET_MAX_ROWS", 20_000_000)
DATASET_MAX_COLUMNS = env_int("DATASET_MAX_COLUMNS", 2_000)
# The memory a data set may take once decoded, checked by the ingest job before it
# decodes (Parquet footers and dictionaries, Excel sheet extents).
DATASET_MAX_BYTES = env_int("DATASET_MAX_BYTES", 2 * 1024**3)
PROFILE_SAMPLE_ROWS = env_int("PROFILE_SAMPLE_ROWS", 200_000)
# Step 4: a feature spec may produce at most this many model inputs (one-hot of an
# identifier is refused with the column named).
FEATURES_MAX_OUT = env_int("FEATURES_MAX_OUT", 2_000)
# Step 7: a fairness difference (demographic parity, equal opportunity, metric gap)
# above this is flagged on the dashboard.
FAIRNESS_BOUND = float(os.environ.get("FAIRNESS_BOUND", "0.1"))
# Step 9: what a failing check of the success contract does to a deployment
# request, per environment: "block" (it cannot be approved) or "warn" (the approver
# must acknowledge it). DEPLOYMENT_POLICY_<ENVIRONMENT> overrides one.
DEPLOYMENT_POLICY = {
    "staging": os.environ.get("DEPLOYMENT_POLICY_STAGING", "warn"),
    "production": os.environ.get("DEPLOYMENT_POLICY_PRODUCTION", "block"),
}
# Rows one prediction request may hold (413 past it).
PREDICT_MAX_ROWS = env_int("PREDICT_MAX_ROWS", 10_000)
# A prediction request's body, in bytes (413 past it): PREDICT_MAX_ROWS rows of a
# wide table fit comfortably.
PREDICT_MAX_BYTES = env_int("PREDICT_MAX_BYTES", 32 * 1024 * 1024)
# Step 9: approvers are e-mailed when a deployment is requested. Development
# prints the mails to the console; set EMAIL_BACKEND (e.g.
# django.core.mail.backends.smtp.EmailBackend) and EMAIL_HOST & co. to send them.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "lifecycle@localhost")
# The address people open the app at, for links in e-mails ("" = path only).
SITE_URL = os.environ.get("SITE_URL", "")
# Step 8: trials of one study that may run at once (each a chain of jobs on the
# training queue; more workers than this do not speed one study up further).
TUNING_PARALLELISM = env_int("TUNING_PARALLELISM", 4)
# A trial job runs more trials of its chain while it has run less than this, so that
# short trials share one job's fixed costs (0 = one trial a job).
TUNING_JOB_SECONDS = float(os.environ.get("TUNING_JOB_SECONDS", "10"))


def _redis_url_with_timeouts(url: str) -> str:
    """Add socket timeouts so that a dead Redis fails fast instead of hanging."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", "2")
    query.setdefault("socket_timeout", "10")
    return urlunsplit(parts._replace(query=urlencode(query)))


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
if TESTING:
    # Tests use a database index of their own and refuse a non-empty one.
    REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6391/15")
_QUEUE_URL = _redis_url_with_timeouts(REDIS_URL)
RQ_QUEUES = {
    "default": {"URL": _QUEUE_URL, "DEFAULT_TIMEOUT": 60 * 60},
    "training": {"URL": _QUEUE_URL, "DEFAULT_TIMEOUT": 6 * 60 * 60},
}
# Services enqueue in transaction.on_commit themselves; "auto" keeps django-rq from
# deferring a second time and lets us handle an unreachable Redis where it happens.
RQ = {
    "COMMIT_MODE": "auto",
    "DEFAULT_RESULT_TTL": 24 * 60 * 60,
    # Imports the scientific stack before forking each job (projects/worker.py).
    "WORKER_CLASS": "projects.worker.Worker",
}
RQ_SHOW_ADMIN_LINK = True

CACHES = {
    # Per process; the tuning page's small lookups.
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Shared by every process: the API's rate-limit counters.
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "lifecycle-throttle",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    },
}

# Jobs: the worker writes a heartbeat; the reconciler fails jobs whose heartbeat is
# older than JOB_STALE_SECONDS ("worker lost").
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 5)
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 30)
JOB_QUEUED_LOST_SECONDS = env_int("JOB_QUEUED_LOST_SECONDS", 60)

# Security headers. The CSP allows no inline script: charts are JSON read by a
# static script.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "rq.worker": {"level": "WARNING" if TESTING else "INFO"},
        # Its start-up banner would land in seed_demo's output (bin/run-all).
        "axes.apps": {"level": "WARNING"},
    },
}
