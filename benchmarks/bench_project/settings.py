"""Settings of the benchmark project: as little as a JSON API needs, so that the numbers
measure the views and the adapters rather than unrelated middleware.

``BENCH_DATABASE_URL`` selects the database (``benchmarks/run.py`` sets it: a temporary
SQLite file by default). ``MIDDLEWARE`` is empty on purpose: each in-process benchmark builds the
middleware chain it measures (see ``suite/requests.py``), and gunicorn (the throughput
benchmark) serves both of its variants without any.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url

SECRET_KEY = "django-preconditions-benchmarks-not-secret"

DEBUG = False

USE_TZ = True

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_preconditions",
    "concurrency",
    "bench_app",
]

MIDDLEWARE: list[str] = []

# Only the admin benchmark renders templates (its client adds the session, authentication and
# messages middleware the admin needs).
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

ROOT_URLCONF = "bench_project.urls"

WSGI_APPLICATION = "bench_project.wsgi.application"

_default_sqlite = Path(tempfile.gettempdir()) / "django-preconditions-bench.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{_default_sqlite}"),
        # One connection per process for its whole life: reconnecting per request would be
        # measured otherwise (Django closes connections at the end of each request by default).
        conn_max_age=None,
    )
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL without an fsync per commit: the benchmarks measure Python, not the disk (whose
    # latency would only add noise to every write).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

PRECONDITIONS = {
    # The default, stated: the throughput benchmark's processes re-read admin rules this often.
    "RULES_REFRESH_INTERVAL": 5.0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # 412s are expected by the hundred under contention; Django logs each as a warning.
    "loggers": {"django.request": {"level": "ERROR"}},
}
