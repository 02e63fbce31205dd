from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "django-preconditions-tests-not-secret"

DEBUG = False

USE_TZ = True

ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django_preconditions",
    "rest_framework",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.support.urls"

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

# SQLite by default; DATABASE_URL selects PostgreSQL or MariaDB/MySQL (see the Makefile).
_default_db: dict[str, Any] = dict(
    dj_database_url.config(default="sqlite:///" + str(BASE_DIR / "test.sqlite3"))
)
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not Django's default in-memory database, so that the threads in
    # concurrency tests share one database.
    # One file per test process, so that simultaneous runs do not share it.
    _default_db["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}
else:
    # One test database per test process here too (runs on one machine may overlap).
    _default_db["TEST"] = {"NAME": f"test_{_default_db['NAME']}_{os.getpid()}"}
    if _default_db["ENGINE"] == "django.db.backends.mysql":
        _default_db["OPTIONS"] = {"charset": "utf8mb4", "isolation_level": "read committed"}
        _default_db["TEST"]["CHARSET"] = "utf8mb4"

# A second database on the same server, for the read-replica tests (tests/test_replicas.py,
# CONFORMANCE rule 54). Only the tests that ask for it create it.
_replica_db = {**_default_db, "TEST": dict(_default_db["TEST"])}
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    _replica_db["NAME"] = str(BASE_DIR / "test-replica.sqlite3")
    _replica_db["TEST"]["NAME"] = str(BASE_DIR / f".test-replica-{os.getpid()}.sqlite3")
else:
    _replica_db["TEST"]["NAME"] = _default_db["TEST"]["NAME"] + "_replica"

DATABASES = {"default": _default_db, "replica": _replica_db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# pytest-django's live_server (the browser test) wraps the app in Django's static files handler,
# which needs a STATIC_URL; the admin's own asset links use it too.
STATIC_URL = "/static/"
