"""Django settings: declared once, typed, read from the environment, failing safe.

Every environment variable RuralWatch reads is read here (through ``ruralwatch.config.env``)
and nowhere else; ``docs/deploy.md`` lists them with the production environment file.

Modes (``RURALWATCH_ENV``):

- ``production`` (the default): ``SECRET_KEY``, ``RURALWATCH_FIELD_KEY`` and
  ``RURALWATCH_HASH_KEY`` must be set, or start-up stops with ``ImproperlyConfigured`` naming
  the variable and how to generate it. Secure cookies, HSTS and the HTTPS redirect are on.
- ``development`` (the demo, ``make test``, benchmarks): missing secrets are generated once
  into ``<RURALWATCH_VAR>/secrets.env`` (mode 0600) and read from there on every later run;
  the transport-security switches default to off (plain HTTP on 127.0.0.1). ``DEBUG=true``
  implies the same handling of secrets.

Database: ``DATABASE_URL`` (PostgreSQL ``postgres://…``; default the SQLite file
``<RURALWATCH_VAR>/ruralwatch.sqlite3``). On PostgreSQL, ``RURALWATCH_DB_POOL_SIZE`` > 0 gives
each process a psycopg connection pool of at most that many connections (``ruralwatch serve``
sets it to its thread count), otherwise a connection lives ``CONN_MAX_AGE`` seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.translation import gettext_lazy as _

from ruralwatch.config.env import (
    env_bool,
    env_choice,
    env_clock,
    env_float,
    env_int,
    env_list,
    env_str,
    resolve_secrets,
)

BASE_DIR = Path(__file__).resolve().parent.parent  # src/ruralwatch
REPO_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(env_str("RURALWATCH_VAR") or REPO_DIR / "var")

# --------------------------------------------------------------------------------------------
# Mode and secrets
# --------------------------------------------------------------------------------------------

RURALWATCH_ENV: str = env_choice("RURALWATCH_ENV", ("production", "development"), "production")
DEVELOPMENT: bool = RURALWATCH_ENV == "development"
PRODUCTION: bool = not DEVELOPMENT
DEBUG: bool = env_bool("DEBUG", False)

_secrets = resolve_secrets(development=DEVELOPMENT or DEBUG, var_dir=VAR_DIR)
SECRET_KEY: str = _secrets["SECRET_KEY"]
#: Fernet key(s) for ID numbers and phones, comma separated: the first encrypts, all decrypt.
RURALWATCH_FIELD_KEY: str = _secrets["RURALWATCH_FIELD_KEY"]
#: HMAC key for the de-duplication hash of ID numbers and export pseudonyms.
RURALWATCH_HASH_KEY: str = _secrets["RURALWATCH_HASH_KEY"]
del _secrets

ALLOWED_HOSTS: list[str] = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env_list("CSRF_TRUSTED_ORIGINS", [])

# --------------------------------------------------------------------------------------------
# Transport security: on by default in production, each switch configurable.
# --------------------------------------------------------------------------------------------

SECURE_SSL_REDIRECT: bool = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SESSION_COOKIE_SECURE: bool = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE: bool = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_HSTS_SECONDS: int = env_int(
    "SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD: bool = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
#: Behind a TLS-terminating reverse proxy that sets ``X-Forwarded-Proto`` (and strips it from
#: clients), requests it marks ``https`` count as secure.
SECURE_PROXY_SSL_HEADER: tuple[str, str] | None = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("RURALWATCH_TRUST_X_FORWARDED_PROTO", False)
    else None
)
#: The request header the reverse proxy puts the client address in (e.g. ``X-Real-IP``);
#: empty: the socket's address. Used by login throttling.
RURALWATCH_CLIENT_IP_HEADER: str = env_str("RURALWATCH_CLIENT_IP_HEADER")
#: Local health probes (systemd, the proxy) may ask over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# --------------------------------------------------------------------------------------------
# Applications
# --------------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ruralwatch.areas",
    "ruralwatch.accounts",
    "ruralwatch.reporting",
    "ruralwatch.signals",
    "ruralwatch.assessments",
    "ruralwatch.dashboard",
    "ruralwatch.keygroups",
    "ruralwatch.resources",
    "ruralwatch.keyareas",
    "ruralwatch.intake",
    "ruralwatch.dispatch",
    "ruralwatch.cycle",
    "ruralwatch.briefings",
    "ruralwatch.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "ruralwatch.config.urls"
WSGI_APPLICATION = "ruralwatch.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------

DATABASE_URL: str = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ruralwatch.sqlite3'}"
#: Connections per process in the PostgreSQL pool (0: no pool, one connection per thread).
RURALWATCH_DB_POOL_SIZE: int = env_int("RURALWATCH_DB_POOL_SIZE", 0, minimum=0, maximum=500)
#: Seconds a request waits for a pooled connection before failing.
RURALWATCH_DB_POOL_TIMEOUT: float = env_float("RURALWATCH_DB_POOL_TIMEOUT", 30.0, minimum=1.0)

_db: dict[str, Any] = dict(
    dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
    )
)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    _db["CONN_MAX_AGE"] = 0
elif RURALWATCH_DB_POOL_SIZE > 0:
    # The pool keeps the connections (Django requires CONN_MAX_AGE 0 with a pool); with
    # CONN_HEALTH_CHECKS on, Django has the pool test each connection before lending it.
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": RURALWATCH_DB_POOL_SIZE,
        "timeout": RURALWATCH_DB_POOL_TIMEOUT,
        "max_idle": 300,  # idle connections above min_size are closed after 5 minutes
    }
DATABASES = {"default": _db}
del _db

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------

#: The dashboard's cache of computed parts (map data, panels, the area page's fragment),
#: keyed by the data version (ruralwatch.dashboard.datacache, docs/dashboard.md):
#: ``locmem`` (default) keeps them in each server process's memory, so each process computes
#: a part once per data version; ``none`` computes every part on every request.
RURALWATCH_CACHE: str = env_choice("RURALWATCH_CACHE", ("locmem", "none"), "locmem")
#: Parts kept per process at most (the oldest third is dropped when full).
RURALWATCH_CACHE_ENTRIES: int = env_int(
    "RURALWATCH_CACHE_ENTRIES", 1000, minimum=10, maximum=1_000_000
)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"
        if RURALWATCH_CACHE == "locmem"
        else "django.core.cache.backends.dummy.DummyCache",
        "LOCATION": "ruralwatch",
        "OPTIONS": {"MAX_ENTRIES": RURALWATCH_CACHE_ENTRIES},
    }
}

# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["ruralwatch.accounts.backends.ThrottledModelBackend"]
LOGIN_URL = "login"
#: Each role lands on its own work page (accounts.views.landing).
LOGIN_REDIRECT_URL = "landing"
CSRF_FAILURE_VIEW = "ruralwatch.dashboard.errors.csrf_failure"
#: Failed logins allowed per user name (and, ten times as many, per client address) within
#: the window; further attempts are refused until the window has passed.
RURALWATCH_LOGIN_MAX_FAILURES: int = env_int("RURALWATCH_LOGIN_MAX_FAILURES", 5, minimum=1)
RURALWATCH_LOGIN_WINDOW_MINUTES: int = env_int("RURALWATCH_LOGIN_WINDOW_MINUTES", 15, minimum=1)

# --------------------------------------------------------------------------------------------
# Language, time, static files, logging
# --------------------------------------------------------------------------------------------

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
#: Our overrides of Django's locale formats (zh_Hans: thousands separated by commas).
FORMAT_MODULE_PATH = ["ruralwatch.config.formats"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
#: Collected by ``ruralwatch serve`` at start (``collectstatic``) and served by WhiteNoise.
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Production: hashed, compressed names cached for ever by browsers and proxies.
        # Development and tests: plain names, no collectstatic needed before rendering.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("RURALWATCH_STATIC_MANIFEST", PRODUCTION)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

#: Development serves static files straight from the apps (no collectstatic needed).
WHITENOISE_USE_FINDERS: bool = DEVELOPMENT

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING") or "WARNING"},
}

# --------------------------------------------------------------------------------------------
# RuralWatch
# --------------------------------------------------------------------------------------------

#: Hours after the end of a report's day within which it counts as on time.
RURALWATCH_REPORT_DEADLINE_HOURS: float = env_float(
    "RURALWATCH_REPORT_DEADLINE_HOURS", 36.0, minimum=0.0, maximum=24.0 * 366
)
#: Days of village detail (values, submissions, village judgements) the daily cycle keeps up to
#: its date; older days move to a Parquet file in RURALWATCH_ARCHIVE_DIR at the end of each
#: whole-tree cycle (``cycle.retention``). 0: keep everything (archive by hand with ``ruralwatch
#: reports archive``). At least the days the cycle's steps read (90).
RURALWATCH_KEEP_VILLAGE_DAYS: int = env_int("RURALWATCH_KEEP_VILLAGE_DAYS", 0, minimum=0)
#: The fewest days the cycle reads (``cycle.retention.MIN_KEEP_DAYS``, which a test keeps equal
#: to this): settings import no app, and a wrong value should stop start-up, not a night's cycle.
KEEP_VILLAGE_DAYS_AT_LEAST = 90
if 0 < RURALWATCH_KEEP_VILLAGE_DAYS < KEEP_VILLAGE_DAYS_AT_LEAST:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"RURALWATCH_KEEP_VILLAGE_DAYS={RURALWATCH_KEEP_VILLAGE_DAYS} is fewer than the "
        f"{KEEP_VILLAGE_DAYS_AT_LEAST} days of village detail the daily cycle reads: give at "
        "least that many, or 0 to keep everything."
    )
#: Where archived village detail goes (the command's ``--dir`` default too).
RURALWATCH_ARCHIVE_DIR = Path(env_str("RURALWATCH_ARCHIVE_DIR") or VAR_DIR / "archive")
#: Where issued briefings (PDF/HTML) are archived; each stays downloadable again.
RURALWATCH_BRIEFINGS_DIR = Path(env_str("RURALWATCH_BRIEFINGS_DIR") or VAR_DIR / "briefings")
#: Folder of the reference boundaries (cn_counties.geojson.gz …) the demo's synthetic county is
#: drawn on; without it the demo has points and no shapes.
RURALWATCH_GEO_DIR = Path(env_str("RURALWATCH_GEO_DIR") or REPO_DIR.parent / "shared/data/geo")
#: Largest report file the API accepts, in MiB.
RURALWATCH_API_MAX_UPLOAD_MB: int = env_int(
    "RURALWATCH_API_MAX_UPLOAD_MB", 50, minimum=1, maximum=1024
)
#: Roles that may export identified key-group lists (names and phones).
RURALWATCH_KG_IDENTIFIED_EXPORT_ROLES: tuple[str, ...] = tuple(
    env_list("RURALWATCH_KG_IDENTIFIED_EXPORT_ROLES", ["county"])
)
#: Local time (TIME_ZONE), HH:MM, at which `ruralwatch worker` runs the daily cycle.
RURALWATCH_CYCLE_HOUR: tuple[int, int] = env_clock("RURALWATCH_CYCLE_HOUR", "06:00")
#: Seconds between two ticks of `ruralwatch worker` (escalation and reminders run each tick).
RURALWATCH_WORKER_INTERVAL: int = env_int("RURALWATCH_WORKER_INTERVAL", 60, minimum=1, maximum=3600)
#: Address of a Dask scheduler (``tcp://host:8786``): when set, the daily cycle's detection and
#: assessment run per province (or prefecture) on its workers (docs/deploy.md, "Distributed
#: cycle"); empty: in this process, as one run over the whole tree.
RURALWATCH_DASK_SCHEDULER: str = env_str("RURALWATCH_DASK_SCHEDULER")
if RURALWATCH_DASK_SCHEDULER and "://" not in RURALWATCH_DASK_SCHEDULER:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"RURALWATCH_DASK_SCHEDULER={RURALWATCH_DASK_SCHEDULER!r} is not a scheduler address: "
        "write it as tcp://host:8786 (or tls://…), or leave it empty to run in-process."
    )
#: What one task of the distributed cycle covers: a province's subtree, or a prefecture's
#: (detection; assessment is always per province, see docs/deploy.md).
RURALWATCH_DASK_PARTITION: str = env_choice(
    "RURALWATCH_DASK_PARTITION", ("province", "prefecture"), "province"
)
#: Worker processes of this machine for the daily cycle's validation, detection and assessment
#: (one province each at a time) when no Dask scheduler is set and the database is PostgreSQL;
#: 1: in this process, as one run over the whole tree (docs/deploy.md, "Local worker pool").
RURALWATCH_CYCLE_WORKERS: int = env_int(
    "RURALWATCH_CYCLE_WORKERS",
    (getattr(os, "process_cpu_count", None) or os.cpu_count)() or 1,
    minimum=1,
    maximum=256,
)
#: Whether the queries of the cycle's pool (its workers and this process while they run) may
#: use PostgreSQL's parallel workers: "auto" not when the server runs on this machine (the
#: pool already fills its cores), "on" the server's setting, "off" never (docs/deploy.md).
RURALWATCH_CYCLE_PARALLEL_QUERY: str = env_choice(
    "RURALWATCH_CYCLE_PARALLEL_QUERY", ("auto", "on", "off"), "auto"
)
#: Requests a minute one API token may make to the intake and DHIS2 endpoints (then 429).
RURALWATCH_INTAKE_RATE_PER_MINUTE: int = env_int(
    "RURALWATCH_INTAKE_RATE_PER_MINUTE", 120, minimum=1, maximum=1_000_000
)
