"""A rule saved in the admin applies at once in the process that saved it, and within
``RULES_REFRESH_INTERVAL`` (5 s by default) in every other process (issue 4).

Two real server processes (gunicorn, one worker each) of the example project share one
database (``make test-load`` runs this on PostgreSQL, MariaDB and SQLite). Both serve the unprotected control endpoint and cache "no rule" for it;
an administrator then protects it through process A's admin. A answers the next unprotected
write with 428 at once; B does within the bound, and not before its cache expires.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import pytest

from django_preconditions import defaults
from tests.support.example_server import example_env, gunicorn, manage, request

pytestmark = pytest.mark.load

BOUND = defaults.RULES_REFRESH_INTERVAL
DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "")


class FormFields(HTMLParser):
    """The default values a browser would submit for the first form with a CSRF token."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {key: value or "" for key, value in attrs}
        if tag == "input" and data.get("type") == "hidden" and data.get("name"):
            self.values[data["name"]] = data.get("value", "")


class AdminSession:
    """A logged-in admin user on one server process (cookies and CSRF token kept)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return str(response.read().decode())

    def post_form(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
        page = self.get(path)
        parser = FormFields()
        parser.feed(page)
        data = [*parser.values.items(), *fields]
        request_ = urllib.request.Request(
            self.base + path,
            data=urllib.parse.urlencode(data).encode(),
            headers={"Referer": self.base + path},
        )
        with self.opener.open(request_, timeout=30) as response:
            return response.status, str(response.read().decode())

    def login(self, username: str, password: str) -> None:
        status, page = self.post_form(
            "/admin/login/?next=/admin/",
            [("username", username), ("password", password), ("next", "/admin/")],
        )
        assert status == 200
        assert "Log out" in page or "logout" in page, "admin login failed"


def unprotected_write(port: int, document: int) -> int:
    status, _, _ = request(
        port, "PUT", f"/unprotected/documents/{document}/", {"title": "t", "body": "b"}
    )
    return status


def test_admin_rule_applies_at_once_here_and_within_the_bound_elsewhere() -> None:
    if not DATABASE_URL:
        pytest.skip("runs with `make test-load` (LOAD_DATABASE_URL unset)")
    env = example_env(DATABASE_URL)
    manage("migrate", "--noinput", env=env)
    manage("load_demo_data", env=env)  # the admin user (admin / admin)
    with gunicorn(env, workers=1) as port_a, gunicorn(env, workers=1) as port_b:
        status, _, created = request(port_a, "POST", "/api/documents/", {"title": "rules"})
        assert status == 201
        document = created["id"]
        # Both processes read the (empty) rules and cache them.
        assert unprotected_write(port_a, document) == 200
        assert unprotected_write(port_b, document) == 200
        admin = AdminSession(port_a)
        admin.login("admin", "admin")
        status, page = admin.post_form(
            "/admin/django_preconditions/protectedendpoint/add/",
            [
                ("view", "unprotected-document-detail"),
                ("methods", "PUT"),
                ("required_headers", "If-Match"),
                ("required_headers", "If-Unmodified-Since"),
                ("allow_wildcard", "unknown"),
                ("error_format", ""),
                ("model_label", ""),
                ("lookup_url_kwarg", ""),
                ("lookup_field", "pk"),
                ("enabled", "on"),
                ("note", "added by the propagation test"),
                ("_save", "Save"),
            ],
        )
        saved_at = time.monotonic()
        assert status == 200
        assert "was added successfully" in page, re.sub(r"\s+", " ", page)[:2000]

        # At once in the process that saved it.
        assert unprotected_write(port_a, document) == 428

        # Within the bound in the other one; poll it (each write is unconditional, so it
        # succeeds while B still serves its cached "no rule").
        statuses: list[tuple[float, int]] = []
        while time.monotonic() - saved_at < BOUND + 3:
            status = unprotected_write(port_b, document)
            statuses.append((time.monotonic() - saved_at, status))
            if status == 428:
                break
            time.sleep(0.1)
        took = statuses[-1][0]
        print(f"\nrule propagation: saving process at once; other process after {took:.2f} s")
        assert statuses[-1][1] == 428, statuses
        assert took <= BOUND + 0.5, statuses
        assert {status for _, status in statuses[:-1]} <= {200}, statuses
