"""Settings of the django-preconditions example project.

A demo, not a deployment: DEBUG is on, the secret key is public, and anyone may read and
write documents through the API. Environment variables:

- ``DATABASE_URL``: the database (default: SQLite in ``example_project/db.sqlite3``), e.g.
  ``postgres://user@127.0.0.1:5432/demo`` (needs dj-database-url, installed by the ``test``
  extra);
- ``DJANGO_DEBUG``: ``0`` turns DEBUG off (static files are then not served by runserver).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-preconditions-example-not-secret"  # demo only

DEBUG = os.environ.get("DJANGO_DEBUG", "1") != "0"

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served locally: /api/docs/ works offline
    "django_preconditions",  # system checks, the admin rules table and their admin
    "documents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Error bodies in the client's language (Accept-Language: fr or de): docs/errors.md.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication, so that 401/403 come before 412/428. It protects the views named
    # in PRECONDITIONS["VIEWS"] and in the admin rules (/admin/django_preconditions/).
    "django_preconditions.middleware.PreconditionMiddleware",
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = "config.wsgi.application"


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
    try:
        import dj_database_url
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImproperlyConfigured(
            "DATABASE_URL is set, but dj-database-url is not installed. "
            "Run: pip install dj-database-url"
        ) from None
    return dict(dj_database_url.parse(url))


DATABASES = {"default": _database()}
# The load tests' isolation matrix (tests/test_isolation_matrix.py) sets these two.
if os.environ.get("DATABASE_ATOMIC_REQUESTS") == "1":
    DATABASES["default"]["ATOMIC_REQUESTS"] = True
if os.environ.get("DATABASE_ISOLATION_LEVEL"):
    _level = os.environ["DATABASE_ISOLATION_LEVEL"]
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        from psycopg import IsolationLevel

        DATABASES["default"].setdefault("OPTIONS", {})["isolation_level"] = IsolationLevel[
            _level.upper().replace(" ", "_")
        ]
    else:
        DATABASES["default"].setdefault("OPTIONS", {})["isolation_level"] = _level
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several server processes (gunicorn workers) on one SQLite file: WAL lets readers go on
    # while one writer writes, and IMMEDIATE transactions take the write lock up front.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# django-preconditions: the global defaults are kept. The one view protected from settings
# is the plain notes view, through PreconditionMiddleware above.
PRECONDITIONS = {
    "VIEWS": {
        "note-detail": {"model": "documents.Note", "lookup_url_kwarg": "pk"},
    },
}

REST_FRAMEWORK = {
    # Demo only: anonymous clients may read and write. With no authentication classes DRF
    # does not check CSRF either, so the playground and curl need no token.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "django-preconditions example API",
    "DESCRIPTION": (
        "Collaborative documents. Writes need If-Match (or If-Unmodified-Since): "
        "428 without, 412 when stale. GET answers 304 to a matching If-None-Match."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components (drf-spectacular's advice): the request side then
    # says what the server checks, e.g. a title may not be blank, and has no read-only fields.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
