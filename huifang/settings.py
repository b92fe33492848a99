"""Huifang settings: read from the environment only, and refuse bad values loudly.

Every variable read here is listed in the README's configuration table. A bad value raises
``ImproperlyConfigured`` naming the variable, so a mistyped deployment fails at start-up and not
at three in the morning when the first reminder is due.
"""

from __future__ import annotations

import os
import re
import secrets
import zoneinfo
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no), got {raw!r}")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Read ``NAME`` or, for container secrets, the file named by ``NAME_FILE``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        if name in os.environ:
            raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both")
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc}") from None
    return os.environ.get(name, default)


def _private_dir(path: Path, *, tighten: bool = True) -> None:
    """Make ``path`` (and its parents) if missing, readable by this user only (0700); with
    ``tighten``, an existing one of ours that others can read or enter is made 0700 too."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if tighten:
        _tighten(path, 0o700)


def _private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if missing, else tighten it (and SQLite's ``-wal`` and
    ``-shm`` beside it) to 0600: SQLite makes those with the database file's own mode, and
    would make a new database file readable by everyone (0644 under the usual umask)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            _tighten(each, 0o600)


def _tighten(path: Path, mode: int) -> None:
    try:
        found = path.stat()
        if found.st_uid == os.geteuid() and found.st_mode & 0o077:
            path.chmod(mode)
    except OSError:
        pass  # missing (a -wal file), or not ours to change


def _persisted_secret_key(path: Path) -> str:
    """Generate the secret key once in embedded mode and keep it under var/."""
    if path.exists():
        _tighten(path, 0o600)
        return path.read_text(encoding="utf-8").strip()
    _private_dir(path.parent)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def _database(url: str, var_dir: Path) -> dict[str, object]:
    import dj_database_url

    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with sqlite:// or postgres://, got scheme {scheme!r}"
        )
    try:
        config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = str(config.get("NAME") or "")
        if name in {"", ":memory:"}:
            raise ImproperlyConfigured("DATABASE_URL: a SQLite URL needs a file path")
        # The database holds customers' personal data: this user's only.
        _private_dir(Path(name).parent, tighten=Path(name).parent == var_dir)
        _private_file(Path(name))
        config["CONN_MAX_AGE"] = 0
        # Several processes (web + workers) write to one file: WAL lets readers go on while one
        # writer works, IMMEDIATE makes writers queue on the busy timeout instead of failing.
        # Every request opens a new connection, whose page cache starts empty: memory-mapping
        # the first GiB of the file reads pages straight from the OS cache instead of copying
        # each into it first (the live audience of a rule at 1M customers: 2x faster).
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA foreign_keys=ON; PRAGMA cache_size=-64000; PRAGMA mmap_size=1073741824;"
            ),
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
    config["TEST"] = {"NAME": env_str("HUIFANG_TEST_DATABASE_NAME") or None}
    return config


def _huey(redis_url: str, var_dir: Path, immediate: bool) -> dict[str, object]:
    common: dict[str, object] = {
        "name": "huifang",
        "immediate": immediate,
        "utc": True,
        "consumer": {
            "workers": env_int("HUIFANG_WORKER_THREADS", 2, minimum=1, maximum=64),
            "worker_type": "thread",
        },
    }
    if redis_url:
        scheme = urlsplit(redis_url).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ImproperlyConfigured(
                f"REDIS_URL must start with redis://, rediss:// or unix://, got {scheme!r}"
            )
        return {**common, "huey_class": "huey.RedisHuey", "url": redis_url}
    _private_dir(var_dir)
    _private_file(var_dir / "huey.db")
    return {**common, "huey_class": "huey.SqliteHuey", "filename": str(var_dir / "huey.db")}


def _time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"TIME_ZONE must be an IANA time zone such as Asia/Shanghai, got {name!r}"
        ) from None
    return name


VAR_DIR = Path(env_str("HUIFANG_VAR_DIR") or BASE_DIR / "var").resolve()
DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("HUIFANG_TESTING", False)

_database_url = env_str("DATABASE_URL")
EMBEDDED = not _database_url
DATABASES = {"default": _database(_database_url or f"sqlite:///{VAR_DIR / 'huifang.db'}", VAR_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DATABASE_URL is set: every web and worker process "
            "of a deployment must share it"
        )
    SECRET_KEY = _persisted_secret_key(VAR_DIR / "secret_key")
elif len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entries must start with http:// or https://, got {_origin!r}"
        )

REDIS_URL = env_str("REDIS_URL")
HUEY = _huey(REDIS_URL, VAR_DIR, immediate=env_bool("HUIFANG_HUEY_IMMEDIATE", False))

TIME_ZONE = _time_zone(env_str("TIME_ZONE", "Asia/Shanghai"))
USE_TZ = True
USE_I18N = True
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans").lower()
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of zh-hans, en; got {LANGUAGE_CODE!r}")
LOCALE_PATHS = [BASE_DIR / "huifang" / "locale"]
# Thousands grouped with a comma on Chinese pages too (huifang/formats/zh_Hans/formats.py).
FORMAT_MODULE_PATH = ["huifang.formats"]

# The region used to read phone numbers typed without a country code (ISO 3166 alpha-2).
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "CN").upper()
if len(PHONE_DEFAULT_REGION) != 2 or not PHONE_DEFAULT_REGION.isalpha():
    raise ImproperlyConfigured(
        f"PHONE_DEFAULT_REGION must be a two-letter country code, got {PHONE_DEFAULT_REGION!r}"
    )

# E-mail: SMTP when EMAIL_HOST is set, otherwise messages are written to the log.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "huifang@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    # Before django.contrib.auth, so that its `createsuperuser` (which applies the password
    # policy with --noinput too) is the one Django runs: the first app to define a command wins.
    "huifang.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "huey.contrib.djhuey",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    # Lowest layer first, as in docs/architecture.md.
    "huifang.core",
    "huifang.audit",
    # huifang.accounts is listed above, before django.contrib.auth.
    "huifang.api",
    "huifang.customers",
    "huifang.organisation",
    "huifang.rules",
    "huifang.surveys",
    "huifang.integrations",
    "huifang.messaging",
    "huifang.tasks",
    "huifang.engine",
    "huifang.analytics",
    "huifang.studio",
    "huifang.imports",
    "huifang.exports",
    "huifang.subscriptions",
    "huifang.sources",
    "huifang.privacy",
    "huifang.demo",
    "huifang.server",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "huifang.api.requests.RequestLimitsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "huifang.accounts.twofactor.TwoFactorMiddleware",
    "huifang.core.middleware.PrivatePagesNotStored",
    "huifang.api.idempotency.IdempotencyMiddleware",
    "huifang.api.errors.JsonErrorsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "huifang.accounts.made_password.ChangeMadePassword",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "huifang.server.urls"
WSGI_APPLICATION = "huifang.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "huifang" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "huifang.server.navigation.navigation",
            ],
        },
    },
]

# Every place a password is set checks these: the admin's user pages, one's own password page,
# `huifang changepassword`, `huifang createsuperuser` (with --noinput too) and the first
# administrator of `huifang run`.
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 10, minimum=8, maximum=128)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        # Django's, with its refusal translated (Django 5.2's Chinese catalog lacks it).
        "NAME": "huifang.accounts.passwords.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Refuses nothing: deletes var/admin-password.txt once that password is changed.
    {"NAME": "huifang.accounts.initial_password.ForgetWhenChanged"},
]

# Sign-in throttling (django-axes, docs/security.md): after LOGIN_FAILURE_LIMIT failed sign-ins
# for one username (from any address), or from one address (for any usernames), within the
# cool-off, further sign-ins of that username or from that address are refused until the
# cool-off has passed since the last failure. The database keeps the count, so every web
# process sees the same one.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
HUIFANG_LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
HUIFANG_LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=10080)
# Behind a reverse proxy every request comes from the proxy's address: failures are then
# counted against the address the proxy saw (the last X-Forwarded-For entry).
HUIFANG_BEHIND_PROXY = env_bool("BEHIND_TLS_PROXY", False)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = HUIFANG_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=HUIFANG_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success must not wipe the address's count: an insider could otherwise sign in to their
# own account between guesses at someone else's.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "huifang.core.requests.client_ip"
AXES_LOCKOUT_CALLABLE = "huifang.accounts.signin.locked_out"
# Two-step sign-in (TOTP, django-otp): anyone may turn it on for their account; this makes it
# compulsory for administrators (the admin role, or access to /admin/).
HUIFANG_ADMIN_TOTP_REQUIRED = env_bool("ADMIN_TOTP_REQUIRED", False)
OTP_TOTP_ISSUER = "Huifang"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "huifang" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# A refused form gets the site's page in the reader's language, with a way back to the form.
CSRF_FAILURE_VIEW = "huifang.server.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS (docs/security.md, "Web"): redirect plain HTTP, and tell browsers to use HTTPS only.
# Off by default: an intranet installation on plain HTTP must keep working.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # a load balancer's plain-HTTP health check
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Content-Security-Policy (django-csp): scripts, style sheets, fonts and images from this
# site only; no inline script, no event-handler attribute, no eval. Style *attributes* are
# allowed (``style-src-attr``): ECharts' tooltips write them, and one cannot run script;
# ``<style>`` elements and style sheets from elsewhere are not. ``data:`` images are the
# SVG icons Bootstrap's and Swagger UI's style sheets carry.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Batch API requests carry thousands of rows.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 20 * 1024 * 1024, minimum=1024)
API_BATCH_MAX_ROWS = env_int("API_BATCH_MAX_ROWS", 5000, minimum=1000)
# What one request may make the server hold or store (docs/security.md, "Input limits"):
# how deep any JSON body may nest, and the size of a customer's custom attributes and of an
# event's properties — serialized bytes, top-level keys, nesting depth, characters per text.
HUIFANG_JSON_MAX_DEPTH = 32
HUIFANG_DATA_MAX_BYTES = 16 * 1024
HUIFANG_DATA_MAX_KEYS = 100
HUIFANG_DATA_MAX_DEPTH = 5
HUIFANG_DATA_MAX_STRING = 2000

# The follow-up engine.
HUIFANG_QUIET_HOURS = env_str("QUIET_HOURS", "21:00-08:00")
if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", HUIFANG_QUIET_HOURS):
    raise ImproperlyConfigured(
        f"QUIET_HOURS must look like 21:00-08:00, got {HUIFANG_QUIET_HOURS!r}"
    )
# Due steps one worker claims at a time, how long its claim lasts before another worker may
# take the steps over (a worker that died), and how often an idle worker looks for due work.
HUIFANG_ENGINE_BATCH = env_int("ENGINE_BATCH_SIZE", 500, minimum=1, maximum=5000)
HUIFANG_ENGINE_LEASE_SECONDS = env_int("ENGINE_LEASE_SECONDS", 60, minimum=1)
HUIFANG_ENGINE_POLL_MS = env_int("ENGINE_POLL_MS", 250, minimum=10, maximum=1000)
HUIFANG_SEGMENT_MINUTES = env_int("SEGMENT_EVALUATION_MINUTES", 15, minimum=1)
# Days the minute rollup refresh always redoes (changes that move no timestamp): docs/analytics.md.
HUIFANG_ANALYTICS_RECENT_DAYS = env_int("ANALYTICS_RECENT_DAYS", 1, minimum=1, maximum=60)
# Connections a rollup rebuild rewrites its days on at once (PostgreSQL; SQLite: one).
HUIFANG_ANALYTICS_REBUILD_JOBS = env_int("ANALYTICS_REBUILD_JOBS", 2, minimum=1, maximum=32)
# Hosts or networks outbound HTTP may call although they are internal (DESIGN.md invariant 8).
HUIFANG_OUTBOUND_ALLOW = env_list("OUTBOUND_HTTP_ALLOW")
# Where customers reach this installation: unsubscribe and short links in messages start here.
HUIFANG_BASE_URL = env_str("BASE_URL", "http://localhost:8000").rstrip("/")
# Unset: links use the public address an administrator confirmed on the channels page, if any
# (``organisation.services.base_url``), and ``huifang check`` warns.
HUIFANG_BASE_URL_SET = bool(env_str("BASE_URL"))
if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", HUIFANG_BASE_URL):
    raise ImproperlyConfigured(
        "BASE_URL must be an http(s) URL like https://huifang.example.com, "
        f"got {HUIFANG_BASE_URL!r}"
    )
# Short links lead only to these domains (and their subdomains) when set; never to an
# internal address either way.
HUIFANG_LINK_DOMAINS = [d.lower().strip(".") for d in env_list("LINK_DOMAINS")]
# How long an unsubscribe link works after its message was made.
HUIFANG_UNSUBSCRIBE_LINK_DAYS = env_int("UNSUBSCRIBE_LINK_DAYS", 90, minimum=1, maximum=3650)
# How long a personal questionnaire link works after it was made.
HUIFANG_SURVEY_LINK_DAYS = env_int("SURVEY_LINK_DAYS", 30, minimum=1, maximum=3650)
HUIFANG_DISPATCH_BATCH = env_int("DISPATCH_BATCH_SIZE", 200, minimum=1, maximum=2000)
HUIFANG_DISPATCH_THREADS = env_int("DISPATCH_THREADS", 8, minimum=1, maximum=64)
HUIFANG_DISPATCH_LEASE_SECONDS = env_int("DISPATCH_LEASE_SECONDS", 300, minimum=5)
HUIFANG_DISPATCH_MAX_ATTEMPTS = env_int("DISPATCH_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
# Encrypts providers' secrets at rest; SECRET_KEY when not set.
HUIFANG_SECRETS_KEY = env_secret("SECRETS_KEY")
# Rules evaluated side by side on PostgreSQL, each on a connection of its own.
HUIFANG_EVALUATION_THREADS = env_int(
    "ENGINE_EVALUATION_THREADS", min(4, os.cpu_count() or 1), minimum=1, maximum=32
)
# Inbound sources (docs/sources.md): the largest payload one may push, and how long what they
# pushed stays in their log (masked).
HUIFANG_SOURCES_MAX_BODY_BYTES = env_int(
    "SOURCES_MAX_BODY_BYTES", 1024 * 1024, minimum=1024, maximum=20 * 1024 * 1024
)
HUIFANG_SOURCES_LOG_DAYS = env_int("SOURCES_LOG_DAYS", 30, minimum=1, maximum=3650)
# Personal details: each reveal is audited; a user may reveal this many in an hour, and must
# give a reason when the organisation requires one.
HUIFANG_REVEALS_PER_HOUR = env_int("PII_REVEALS_PER_HOUR", 60, minimum=1, maximum=10_000)
HUIFANG_REVEAL_REASON_REQUIRED = env_bool("PII_REVEAL_REASON_REQUIRED", False)
# The most rows one export from a page may hold (customers, tasks, messages, answers, audit
# entries): the work a click can cause stays bounded; an xlsx holds at most 1,048,575 anyway.
HUIFANG_EXPORT_MAX_ROWS = env_int("EXPORT_MAX_ROWS", 1_000_000, minimum=1, maximum=100_000_000)
# Custom attributes that hold personal details (an address, an id number): masked like a phone
# number on every page and API answer, shown in full only by an audited reveal. Keys compare
# without regard to case.
HUIFANG_PII_ATTRIBUTES = frozenset(
    key.casefold()
    for key in env_list(
        "PII_ATTRIBUTES", "address,地址,收货地址,家庭住址,id_number,身份证,身份证号"
    )
)
# Months raw data is kept (message texts, the words in event properties); 0 keeps everything
# (huifang.privacy.retention).
RETENTION_MONTHS = env_int("HUIFANG_RETENTION_MONTHS", 0, minimum=0, maximum=1200)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {LOG_LEVEL!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"client_errors": {"()": "huifang.core.logs.ClientErrorsInOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # A refused request (403, 400) is one line, not a traceback (core/logs.py).
        "django.request": {"filters": ["client_errors"]},
        "django.security": {"filters": ["client_errors"]},
        "huey": {
            "handlers": ["console"],
            "level": "WARNING" if LOG_LEVEL == "INFO" else LOG_LEVEL,
            "propagate": False,
        },
        # django-axes announces itself in every process and logs each failure with the
        # username and address masked; huifang.signin logs the sign-ins themselves.
        "axes": {
            "handlers": ["console"],
            "level": LOG_LEVEL if LOG_LEVEL in {"DEBUG", "CRITICAL"} else "ERROR",
            "propagate": False,
        },
    },
}
