"""Casebridge settings: every value comes from the environment (see docker/.env.example).

The same module serves development, tests and production; only the environment differs.
Readers in `casebridge.lib.env` refuse malformed values, and the checks at the bottom refuse to
start a production node (DEBUG off) without a real secret key and allowed hosts.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from casebridge.lib.env import (
    SECRET_KEY_MIN_LENGTH,
    allowed_host_weakness,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_str,
    secret_key_weakness,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CASEBRIDGE_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
# DEMO=1 (`make run`): a demo node on loopback with DEBUG off, so people see the pages a real node
# shows (friendly 404/500/400, no technical pages), yet with no setup: keys and secret generated
# under var/, plain-HTTP cookies, loopback hosts only. It is refused next to anything that says
# "real deployment" (_DEMO_REFUSED below), and `check --deploy` fails with it (casebridge.E001).
DEMO = env_bool("DEMO", False)
SECRET_KEY = env_secret("SECRET_KEY") or ""
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", _LOOPBACK_HOSTS if DEBUG or DEMO else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# A production node must be configured explicitly: no guessable key, no wildcard fallback.
_INSECURE_KEY_PREFIX = "django-insecure"
# Variables only a real deployment sets. The demo generates its own keys, so a configured key means
# real data (or a real audit log) would sit behind published demo passwords: refuse instead.
_DEMO_REFUSED = (
    "SECRET_KEY",
    "KEY_ENCRYPTION_KEY",
    "KEY_ENCRYPTION_KEY_PREVIOUS",
    "AUDIT_SIGNING_KEY",
    "TRUST_X_FORWARDED_PROTO",
    "TRUSTED_PROXIES",
    "CSRF_TRUSTED_ORIGINS",
)
_DEMO_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _demo_refusal() -> str | None:
    """Why DEMO may not run in this environment, or None (a loopback node with nothing of production)."""
    configured = [name for name in _DEMO_REFUSED if env_str(name) is not None or env_str(f"{name}_FILE") is not None]
    if configured:
        return f"{', '.join(configured)} set: that is a real deployment, and DEMO has published passwords"
    if other := sorted(set(ALLOWED_HOSTS) - _DEMO_HOSTS):
        return f"ALLOWED_HOSTS names {', '.join(other)}: a demo node answers on loopback only"
    if env_bool("SECURE_COOKIES", False) or env_bool("SECURE_SSL_REDIRECT", False):
        return "SECURE_COOKIES or SECURE_SSL_REDIRECT is on: that is a node behind TLS, not the loopback demo"
    return None


def _demo_secret_file(path: Path, make: Callable[[], str]) -> str:
    """Read a demo secret under var/, creating it (owner-only) on the first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make() + "\n")
        logging.getLogger("casebridge.demo").warning(
            "DEMO: generated %s. This is a demo node with published passwords: never put real data in it.", path
        )
    return path.read_text().strip()


if DEMO:
    if _refusal := _demo_refusal():
        raise ImproperlyConfigured(f"DEMO=1 is refused: {_refusal}. Unset DEMO on a real node.")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The same files a DEBUG node generates (audit.keys, exchange.keystore), so one var/ serves both.
    SECRET_KEY = _demo_secret_file(VAR_DIR / "demo-secret.key", lambda: secrets.token_urlsafe(64))
    _demo_audit_key = _demo_secret_file(
        VAR_DIR / "audit-signing.key", lambda: base64.b64encode(os.urandom(32)).decode()
    )
    _demo_kek = _demo_secret_file(VAR_DIR / "key-encryption.key", lambda: base64.b64encode(os.urandom(32)).decode())
elif not DEBUG:
    _weak_key = secret_key_weakness(SECRET_KEY)
    if _weak_key:
        raise ImproperlyConfigured(
            f"SECRET_KEY (or SECRET_KEY_FILE) is too weak for DEBUG off: {_weak_key}. It must be a random "
            f"value of at least {SECRET_KEY_MIN_LENGTH} characters. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must list this node's host names when DEBUG is off.")
    for _host in ALLOWED_HOSTS:
        if _weak_host := allowed_host_weakness(_host):
            raise ImproperlyConfigured(
                f"ALLOWED_HOSTS must name this node's own host names when DEBUG is off, not {_host!r}: {_weak_host}."
            )
elif not SECRET_KEY:
    SECRET_KEY = _INSECURE_KEY_PREFIX + "-development-only-key-never-used-when-debug-is-off"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular_sidecar",
    "drf_spectacular",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "casebridge.apps.CasebridgeConfig",
    "agencies",
    "audit",
    "hashsets",
    "cases",
    "exchange",
    "retention",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "casebridge.middleware.RequestIdMiddleware",
    # After the request id (entries carry it), before everything that may refuse (CSRF, login).
    "audit.middleware.RouteAuditMiddleware",
    "casebridge.middleware.NulCharacterRejectMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "agencies.middleware.SessionIdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "casebridge.urls"
WSGI_APPLICATION = "casebridge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "casebridge" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "agencies.context_processors.membership",
            ],
        },
    }
]


def _database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got scheme {parts.scheme!r}")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "casebridge",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or "") or (env_secret("DATABASE_PASSWORD") or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        # A connection that died (database restart, failover) is replaced instead of failing a request.
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
        "TEST": {"NAME": env_str("DATABASE_TEST_NAME")},
    }


DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": _database_from_url(DATABASE_URL)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "casebridge.sqlite3",
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 14}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or DEMO)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# The demo serves static files with whitenoise straight from the apps (no collectstatic step), so
# whitenoise's warning that STATIC_ROOT was never collected says nothing useful there.
WHITENOISE_USE_FINDERS = DEBUG or DEMO
if DEMO:
    warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)
MEDIA_ROOT = VAR_DIR / "uploads"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Sessions, cookies and security headers -------------------------------------------------
SESSION_IDLE_TIMEOUT = timedelta(minutes=env_int("SESSION_IDLE_MINUTES", 30, minimum=1, maximum=720))
SESSION_COOKIE_AGE = 12 * 60 * 60  # absolute cap; the idle timeout above usually ends sessions first
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind TLS in production; `make run` (DEMO) and DEBUG serve plain HTTP on loopback.
_plain_http = DEBUG or DEMO
_secure = env_bool("SECURE_COOKIES", not _plain_http)
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SESSION_COOKIE_NAME = "__Host-sessionid" if _secure else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if _secure else "csrftoken"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not _plain_http)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if _plain_http else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not _plain_http
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not _plain_http)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies (CIDR networks) whose X-Forwarded-For is believed for the client's address
# (casebridge.middleware.client_address). Empty: the TCP peer (or the PROXY protocol's address) is
# the client. Behind nginx without the PROXY protocol, list nginx's address as the node sees it.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Whether gunicorn takes the client address from the PROXY protocol (docs/deploy.md): then
# REMOTE_ADDR is already the client and TRUSTED_PROXIES is not needed (casebridge.W002).
PROXY_PROTOCOL = "--proxy-protocol" in (env_str("GUNICORN_CMD_ARGS") or "")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Strict CSP: no inline script or style anywhere; every asset is served from this origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Login throttling -----------------------------------------------------------------------
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Failures of one username from all client addresses together before the account itself is locked.
LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("LOGIN_ACCOUNT_FAILURE_LIMIT", 50, minimum=1)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER") or "Casebridge"
# How long the one-time link a new user sets their password and authenticator with stays valid.
ENROLMENT_LINK_HOURS = env_int("ENROLMENT_LINK_HOURS", 72, minimum=1, maximum=720)
# Failed logins of unknown usernames audited one by one per client address and window; the rest of
# the window is counted into one summary entry (a flood must not grow the audit log without bound).
LOGIN_ANONYMOUS_AUDIT_PER_WINDOW = env_int("LOGIN_ANONYMOUS_AUDIT_PER_WINDOW", 20, minimum=1)
LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS = env_int("LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS", 600, minimum=10)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agencies.authentication.ApiTokenAuthentication",
        "agencies.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["agencies.permissions.IsAgencyMember"],
    "DEFAULT_PAGINATION_CLASS": "casebridge.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "casebridge.api.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # One JSON parser for the whole API: bounded depth and size (casebridge.parsers.JSONParser).
    "DEFAULT_PARSER_CLASSES": [
        "casebridge.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "hash_lookup": env_str("HASH_LOOKUP_RATE") or "120/min",
        "partner": env_str("PARTNER_RATE") or "600/min",
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Casebridge API",
    "DESCRIPTION": "Inter-agency API of a Casebridge node. Errors are RFC 9457 problem details.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets are served from this node (no CDN: nodes often have no internet access).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# Longest life of a personal API token; the database also refuses any expiry past 365 days
# (agencies.models.API_TOKEN_HARD_MAX_DAYS), so this can only lower the cap.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=1, maximum=365)
API_TOKEN_DEFAULT_DAYS = env_int(
    "API_TOKEN_DEFAULT_DAYS", min(90, API_TOKEN_MAX_DAYS), minimum=1, maximum=API_TOKEN_MAX_DAYS
)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL") or ""
# Without a broker, tasks run in-process at the call site (the zero-setup default of `make run`).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULE = {
    # Periodic messages expire so they do not pile up in Redis while every worker is down.
    "audit-integrate": {"task": "audit.tasks.audit_integrate_task", "schedule": 1.0, "options": {"expires": 5}},
}

# --- Audit ----------------------------------------------------------------------------------
AUDIT_ORIGIN = env_str("AUDIT_ORIGIN") or "casebridge.local/audit"
AUDIT_SIGNING_KEY = env_secret("AUDIT_SIGNING_KEY")  # base64 Ed25519 seed; generated under var/ if unset
if DEMO:
    AUDIT_SIGNING_KEY = _demo_audit_key
AUDIT_COMMITMENT_SALT_BYTES = 16
# How long audit entries are kept before whole partitions are archived offline (docs/retention.md).
# No agency's data retention rule may keep a record longer than this: its audit trail must outlive it.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 3650, minimum=1)
CELERY_BEAT_SCHEDULE["login-failure-summaries"] = {
    # Writes the summary entries of closed windows of unknown-username login failures.
    "task": "agencies.tasks.login_failure_summaries_task",
    "schedule": float(LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS),
    "options": {"expires": 60},
}
CELERY_BEAT_SCHEDULE["retention-sweep"] = {
    # Erase records past their deadline (idempotent: a late or doubled run erases nothing twice).
    "task": "retention.tasks.retention_sweep",
    "schedule": 3600.0,
    "options": {"expires": 1800},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "faiss.loader": {"level": "WARNING"}},
}

# Without a broker (make run), integrate the audit log right after each commit in-process;
# with one, the beat schedule and `manage.py audit_integrator` do it.
AUDIT_INTEGRATE_ON_COMMIT = env_bool("AUDIT_INTEGRATE_ON_COMMIT", CELERY_TASK_ALWAYS_EAGER)

# --- Hash lookups ---------------------------------------------------------------------------
HASH_LOOKUP_MAX_BATCH = env_int("HASH_LOOKUP_MAX_BATCH", 10_000, minimum=1)
HASH_LOOKUP_DIGESTS_PER_HOUR = env_int("HASH_LOOKUP_DIGESTS_PER_HOUR", 500_000, minimum=1)
# Target identifiers one user may check against every case on the node per 24 hours: each check
# answers "does another case hold this?", so without a budget it is an oracle for any identifier.
DECONFLICTION_IDENTIFIERS_PER_DAY = env_int("DECONFLICTION_IDENTIFIERS_PER_DAY", 100, minimum=1, maximum=100_000)
PDQ_MIN_QUALITY = env_int("PDQ_MIN_QUALITY", 50, minimum=0, maximum=100)
HASHSET_UPLOAD_MAX_BYTES = env_int("HASHSET_UPLOAD_MAX_BYTES", 8 * 1024**3, minimum=1)
# Longest single database statement of an import (PostgreSQL statement_timeout, milliseconds; 0 = none).
# A runaway import is stopped and rolled back instead of holding its locks for hours.
HASHSET_IMPORT_STATEMENT_TIMEOUT_MS = env_int("HASHSET_IMPORT_STATEMENT_TIMEOUT_MS", 30 * 60 * 1000, minimum=0)

# --- Cache (rate limits and budgets must be shared by every web process) ------------------------
CACHE_URL = env_secret("CACHE_URL") or ""
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Exchange --------------------------------------------------------------------------------
# base64 of 32 random bytes; wraps every agency's private keys at rest. Generated under var/ only
# when DEBUG is on (development); a production node refuses to create keys without it.
KEY_ENCRYPTION_KEY = env_secret("KEY_ENCRYPTION_KEY")
if DEMO:
    KEY_ENCRYPTION_KEY = _demo_kek
KEY_ENCRYPTION_KEY_PREVIOUS = env_secret("KEY_ENCRYPTION_KEY_PREVIOUS")  # during KEK rotation
EXCHANGE_BUNDLE_DIR = Path(env_str("EXCHANGE_BUNDLE_DIR") or VAR_DIR / "bundles")
EXCHANGE_MAX_BUNDLE_BYTES = env_int("EXCHANGE_MAX_BUNDLE_BYTES", 2 * 1024**3, minimum=1024)
EXCHANGE_BUNDLE_LIFETIME_DAYS = env_int("EXCHANGE_BUNDLE_LIFETIME_DAYS", 30, minimum=1)
EXCHANGE_HTTP_TIMEOUT = env_int("EXCHANGE_HTTP_TIMEOUT", 30, minimum=1)
EXCHANGE_MAX_ATTEMPTS = env_int("EXCHANGE_MAX_ATTEMPTS", 50, minimum=1)
# A partner's bundle upload must keep arriving at this rate, checked over each window (0 = unchecked).
EXCHANGE_UPLOAD_MIN_BYTES_PER_SECOND = env_int("EXCHANGE_UPLOAD_MIN_BYTES_PER_SECOND", 16 * 1024, minimum=0)
EXCHANGE_UPLOAD_WINDOW = float(env_int("EXCHANGE_UPLOAD_WINDOW_SECONDS", 10, minimum=1))
# Networks (CIDR, comma-separated) where partner nodes may be besides the public internet, e.g. a
# private interconnect between agencies. Anything else private or reserved is never called.
EXCHANGE_PARTNER_NETWORKS = [n for n in (env_str("EXCHANGE_PARTNER_NETWORKS") or "").split(",") if n.strip()]
# Rejected incoming bundles (quarantine), per partner: how many keep their file for an operator to
# examine, how many rows (header and reason) are kept at all, and after how many days each goes.
EXCHANGE_QUARANTINE_BODIES_PER_PARTNER = env_int("EXCHANGE_QUARANTINE_BODIES_PER_PARTNER", 20, minimum=0)
EXCHANGE_QUARANTINE_MAX_PER_PARTNER = env_int("EXCHANGE_QUARANTINE_MAX_PER_PARTNER", 1000, minimum=1)
EXCHANGE_QUARANTINE_BODY_DAYS = env_int("EXCHANGE_QUARANTINE_BODY_DAYS", 7, minimum=0)
EXCHANGE_QUARANTINE_DAYS = env_int("EXCHANGE_QUARANTINE_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE["exchange-quarantine-expire"] = {
    "task": "exchange.tasks.quarantine_expire_task",
    "schedule": 3600.0,
    "options": {"expires": 1800},
}
CELERY_BEAT_SCHEDULE["exchange-witness"] = {
    "task": "exchange.tasks.witness_all_task",
    "schedule": float(env_int("WITNESS_INTERVAL_SECONDS", 300, minimum=10)),
    "options": {"expires": 120},
}
CELERY_BEAT_SCHEDULE["exchange-outbox-sweep"] = {
    "task": "exchange.tasks.outbox_sweep_task",
    "schedule": float(env_int("EXCHANGE_SWEEP_SECONDS", 30, minimum=1)),
    "options": {"expires": 60},
}
