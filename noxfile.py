"""The version matrix as nox sessions: `make matrix` (all), or `make matrix NOX_ARGS='-s NAME'`.

Each session is a Python, a Django, a DRF and the databases its test suite runs on (the
browser tests run once, in `make test`). Interpreters are found on this machine by
.ci/find-python.sh (pyenv, PATH, uv); nox never downloads one. A session's virtualenv
(.nox/NAME) is reused, and its packages reinstalled only when pyproject.toml changed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/preconditions")
MARIADB_URL = os.environ.get("MARIADB_URL", "mysql://root@127.0.0.1:3306/preconditions")

os.environ.pop("DATABASE_URL", None)  # SQLite unless a session says otherwise

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True

#: name, Python, Django, DRF, databases
MATRIX = [
    (
        "py310-dj52-drf-old",
        "3.10",
        "Django>=5.2,<5.3",
        "djangorestframework==3.16.*",
        "sqlite,postgres,mariadb",
    ),
    ("py313-dj60", "3.13", "Django>=6.0,<6.1", "djangorestframework", "sqlite"),
    (
        "py313-dj61-drf-new",
        "3.13",
        "Django>=6.1,<6.2",
        "djangorestframework",
        "sqlite,postgres,mariadb",
    ),
]


def interpreter(version: str) -> str:
    """This machine's Python ``version`` (an absolute path), or the bare version when none is
    found, so that nox reports the session's interpreter as missing."""
    found = subprocess.run(
        [str(ROOT / ".ci" / "find-python.sh"), version], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or version


def make_session(name: str, python: str, django: str, drf: str, databases: str) -> None:
    def run(session: nox.Session) -> None:
        stamp = Path(session.virtualenv.location) / ".installed.stamp"
        pyproject = ROOT / "pyproject.toml"
        if not stamp.exists() or pyproject.stat().st_mtime > stamp.stat().st_mtime:
            session.install("--upgrade", "pip")
            session.install("-e", ".", "--group", "test", django, drf)
            if "mariadb" in databases:
                session.run(".ci/system-packages.sh", "libmariadb-dev", "pkg-config", external=True)
                session.install("--group", "mysql")
            stamp.touch()
        session.run(
            "python",
            "-c",
            "import django, rest_framework, sys; print('Python', sys.version.split()[0], "
            "'Django', django.get_version(), 'DRF', rest_framework.VERSION)",
        )
        for database in databases.split(","):
            urls = {"postgres": POSTGRES_URL, "mariadb": MARIADB_URL}
            env = {"DATABASE_URL": urls[database]} if database in urls else {}
            if database != "sqlite":
                session.run(".ci/services.sh", database, external=True, silent=True)
            session.log(f"-> {database}")
            # Exit code 5 (no tests collected) is a failure too: any non-zero code fails the session.
            session.run(
                "python",
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "not browser and not schemathesis",
                *session.posargs,
                env=env,
            )

    run.__doc__ = f"Python {python}, {django}, {drf}, on {databases.replace(',', ', ')}"
    nox.session(name=name, python=interpreter(python))(run)


for entry in MATRIX:
    make_session(*entry)
