"""preconditions.W002 (CONFORMANCE rule 48): django-cors-headers without the headers that
cross-origin clients need to read ETags and send preconditions.

django-cors-headers is not installed in the test environment; the check only reads
``INSTALLED_APPS`` and the ``CORS_*`` settings, so those are patched directly (changing
``INSTALLED_APPS`` through ``override_settings`` would import the app).
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from django_preconditions.interop_checks import check_cors_headers

ALL_NEEDED = {
    "CORS_EXPOSE_HEADERS": ["ETag", "Last-Modified"],
    "CORS_ALLOW_HEADERS": ["content-type", "if-match", "if-none-match", "if-unmodified-since"],
}


@pytest.fixture
def cors(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(settings, "INSTALLED_APPS", [*settings.INSTALLED_APPS, "corsheaders"])

    def configure(**values: Any) -> None:
        for name in ("CORS_EXPOSE_HEADERS", "CORS_ALLOW_HEADERS"):
            if name in values:
                monkeypatch.setattr(settings, name, values[name], raising=False)
            elif hasattr(settings, name):
                monkeypatch.delattr(settings, name)

    configure()
    return configure


def test_w002_is_silent_without_django_cors_headers() -> None:
    assert "corsheaders" not in settings.INSTALLED_APPS
    assert check_cors_headers() == []


def test_w002_warns_with_django_cors_headers_defaults(cors: Any) -> None:
    [warning] = check_cors_headers()

    assert warning.id == "preconditions.W002"
    assert "ETag, Last-Modified" in warning.msg
    assert "If-Match, If-None-Match, If-Unmodified-Since" in warning.msg
    assert "CORS_EXPOSE_HEADERS = ['ETag', 'Last-Modified']" in warning.hint
    assert "from corsheaders.defaults import default_headers" in warning.hint
    assert (
        "CORS_ALLOW_HEADERS = (*default_headers, 'if-match', 'if-none-match', "
        "'if-unmodified-since')" in warning.hint
    )


def test_w002_is_silent_when_everything_needed_is_configured(cors: Any) -> None:
    cors(**ALL_NEEDED)

    assert check_cors_headers() == []


def test_w002_compares_header_names_case_insensitively(cors: Any) -> None:
    cors(
        CORS_EXPOSE_HEADERS=("etag", "LAST-MODIFIED"),
        CORS_ALLOW_HEADERS=("If-Match", "IF-NONE-MATCH", "if-unmodified-since"),
    )

    assert check_cors_headers() == []


def test_w002_names_only_what_is_missing_and_keeps_the_existing_lists(cors: Any) -> None:
    cors(
        CORS_EXPOSE_HEADERS=["X-Total-Count", "ETag"],
        CORS_ALLOW_HEADERS=["content-type", "if-match"],
    )

    [warning] = check_cors_headers()

    assert "does not include Last-Modified," in warning.msg
    assert "does not include If-None-Match, If-Unmodified-Since," in warning.msg
    assert "CORS_EXPOSE_HEADERS = ['X-Total-Count', 'ETag', 'Last-Modified']" in warning.hint
    assert (
        "CORS_ALLOW_HEADERS = ['content-type', 'if-match', 'if-none-match', "
        "'if-unmodified-since']" in warning.hint
    )


def test_w002_accepts_wildcards(cors: Any) -> None:
    cors(CORS_EXPOSE_HEADERS=["*"], CORS_ALLOW_HEADERS=["*"])

    assert check_cors_headers() == []


def test_w002_is_reported_by_manage_py_check(cors: Any) -> None:
    stderr = StringIO()

    call_command("check", stdout=StringIO(), stderr=stderr)

    assert "preconditions.W002" in stderr.getvalue()


def test_manage_py_check_is_clean_once_configured(cors: Any) -> None:
    cors(**ALL_NEEDED)
    stderr = StringIO()

    call_command("check", stdout=StringIO(), stderr=stderr)

    assert "preconditions.W002" not in stderr.getvalue()
