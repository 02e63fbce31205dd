"""django_preconditions.testing: the ETag-remembering clients, assert_protected, the audit as
a test, and the pytest plugin's fixtures (issue 14)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import TestCase
from django.urls import path
from rest_framework.test import APIClient

from django_preconditions.testing import (
    STALE_ETAG,
    AsyncPreconditionsClient,
    PreconditionsAPIClient,
    PreconditionsClient,
    assert_all_protected,
    assert_protected,
    url_key,
)
from tests.testapp import drf_views, views
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

#: Only protected patterns: the URLconf for the passing audit test.
urlpatterns = [
    path("docs/<int:pk>/", views.document_detail, name="document-detail"),
    path(
        "api/docs/<int:pk>/",
        drf_views.DocumentViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="api-document",
    ),
]


# --- An existing-style suite: plain client.put(...) calls, unchanged but for the client ------


def existing_suite(client: Any, base: str) -> None:
    """What a team's DRF tests look like before preconditions: rows made with the ORM, plain
    writes, no conditional header anywhere."""
    document = Document.objects.create(title="draft", body="b")
    detail = f"{base}{document.pk}/"

    response = client.put(detail, {"title": "edited", "body": "b", "counter": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "edited"

    response = client.patch(detail, {"counter": 2}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["counter"] == 2

    response = client.get(detail)
    assert response.json()["title"] == "edited"
    response = client.patch(detail, {"title": "again"}, format="json")
    assert response.status_code == 200, response.content

    response = client.post(base, {"title": "new", "body": ""}, format="json")
    assert response.status_code == 201, response.content
    created = f"{base}{response.json()['id']}/"
    assert client.put(created, {"title": "renamed", "body": ""}, format="json").status_code == 200

    assert client.delete(detail).status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert Document.objects.get(title="renamed")


def test_the_existing_suite_passes_on_the_viewset_without_the_mixin() -> None:
    existing_suite(APIClient(), "/api/plain/docs/")


def test_the_existing_suite_fails_with_428_once_the_mixin_is_added() -> None:
    """Rule 29: the reason teams hesitate."""
    with pytest.raises(AssertionError, match="428"):
        existing_suite(APIClient(), "/api/docs/")


def test_the_existing_suite_passes_with_the_mixin_when_only_the_client_class_changes() -> None:
    existing_suite(PreconditionsAPIClient(), "/api/docs/")


# --- The clients -----------------------------------------------------------------------------


def test_the_client_sends_the_etag_of_the_last_response_for_that_url() -> None:
    document = Document.objects.create(title="a")
    client = PreconditionsClient()
    url = f"/docs/{document.pk}/"
    etag = client.get(url).headers["ETag"]
    assert client.etag_for(url) == etag

    response = client.put(url, {"title": "b"}, content_type="application/json")

    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert client.etag_for(url) == response.headers["ETag"]
    document.refresh_from_db()
    assert document.title == "b"


def test_a_remembered_etag_that_went_stale_still_gets_412() -> None:
    """Rule 19: the client remembers, it does not refetch: another writer's change shows."""
    document = Document.objects.create(title="a")
    client = PreconditionsClient()
    url = f"/docs/{document.pk}/"
    client.get(url)
    Document.objects.get(pk=document.pk).save()  # someone else writes

    response = client.put(url, {"title": "b"}, content_type="application/json")

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "a"
    # The 412 carried the current ETag, so the retry succeeds.
    assert client.put(url, {"title": "b"}, content_type="application/json").status_code == 200


def test_opting_out_per_call_sends_the_write_unconditional() -> None:
    document = Document.objects.create(title="a")
    client = PreconditionsClient()
    url = f"/docs/{document.pk}/"
    client.get(url)

    response = client.put(url, {"title": "b"}, content_type="application/json", preconditions=False)

    assert response.status_code == 428  # rule 29
    assert Document.objects.get(pk=document.pk).title == "a"


@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_IF_MATCH": STALE_ETAG},
        {"headers": {"If-Match": STALE_ETAG}},
        {"headers": {"if-unmodified-since": "Thu, 01 Jan 1970 00:00:00 GMT"}},
    ],
)
def test_a_conditional_header_given_by_the_test_is_sent_as_given(header: dict[str, Any]) -> None:
    """A test that wants to prove a 412 still can (rules 19, 23)."""
    document = Document.objects.create(title="a")
    client = PreconditionsClient()
    url = f"/docs/{document.pk}/"
    client.get(url)

    response = client.put(url, {"title": "b"}, content_type="application/json", **header)

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "a"


def test_without_a_remembered_etag_the_client_reads_it_first() -> None:
    document = Document.objects.create(title="a")
    client = PreconditionsClient()

    assert client.delete(f"/docs/{document.pk}/").status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert client.etags == {}  # forgotten after the delete


def test_fetching_can_be_turned_off() -> None:
    document = Document.objects.create(title="a")
    client = PreconditionsClient()
    client.fetch_missing_etags = False

    assert client.delete(f"/docs/{document.pk}/").status_code == 428


def test_etags_are_remembered_per_path_and_query() -> None:
    assert url_key("/a/?b=2&a=1") == url_key("/a/", {"a": "1", "b": "2"}) == "/a/?a=1&b=2"
    assert url_key("http://testserver/%7Ex/") == "/~x/"
    assert url_key("/a/", "x=1") != url_key("/a/")


def test_forget_etags_clears_the_memory() -> None:
    document = Document.objects.create(title="a")
    client = PreconditionsClient()
    client.get(f"/docs/{document.pk}/")
    client.forget_etags()
    assert client.etags == {}


def test_the_async_client_sends_the_remembered_etag() -> None:
    document = Document.objects.create(title="a")
    client = AsyncPreconditionsClient()
    url = f"/async/docs/{document.pk}/"
    body = {"title": "b"}

    async def writes() -> list[Any]:
        return [
            await client.put(url, body, content_type="application/json"),
            await client.put(url, {"title": "c"}, content_type="application/json"),
            await client.put(url, body, content_type="application/json", preconditions=False),
        ]

    first, second, refused = async_to_sync(writes)()  # this test's transaction, one thread

    assert (first.status_code, second.status_code, refused.status_code) == (200, 200, 428)
    assert client.etag_for(url) == second.headers["ETag"]
    assert Document.objects.get(pk=document.pk).title == "c"


def test_the_module_imports_without_drf_and_builds_the_drf_client_on_demand() -> None:
    """DRF stays optional: with ``rest_framework`` unimportable the module and its Django
    clients still work; only the DRF client needs it."""
    code = (
        "import sys; sys.modules['rest_framework'] = None\n"
        "import django_preconditions.testing as t\n"
        "assert t.PreconditionsClient and t.assert_protected\n"
        "try:\n    t.PreconditionsAPIClient\nexcept ImportError:\n    print('needs DRF')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "needs DRF"
    assert PreconditionsAPIClient.__name__ == "PreconditionsAPIClient"
    assert issubclass(PreconditionsAPIClient, APIClient)


# --- assert_protected --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_assert_protected_passes_on_a_protected_viewset(method: str) -> None:
    document = Document.objects.create(title="a")
    response = assert_protected(
        APIClient(), f"/api/docs/{document.pk}/", method, data={"title": "b", "body": ""}
    )
    assert response.status_code in (200, 204)


def test_assert_protected_passes_on_a_protected_function_view_with_our_client() -> None:
    document = Document.objects.create(title="a")
    assert_protected(PreconditionsClient(), f"/docs/{document.pk}/", "PUT", data={"title": "b"})
    assert Document.objects.get(pk=document.pk).title == "b"


def test_assert_protected_checks_the_body_of_the_configured_format() -> None:
    document = Document.objects.create(title="a")
    assert_protected(
        APIClient(),
        f"/api/guidance/docs/{document.pk}/",
        "PATCH",
        data={"title": "b"},
        error_format="json",
    )
    with pytest.raises(AssertionError, match="lacks error, message"):
        assert_protected(APIClient(), f"/api/docs/{document.pk}/", "PATCH", error_format="json")


def test_assert_protected_fails_on_an_unprotected_endpoint_with_a_clear_message() -> None:
    document = Document.objects.create(title="a")
    url = f"/api/plain/docs/{document.pk}/"
    with pytest.raises(AssertionError) as failure:
        assert_protected(APIClient(), url, "PUT", data={"title": "b"})

    message = str(failure.value)
    assert message.startswith(
        f"assert_protected(PUT {url}) failed at step 1 of 5: GET answers 200 with an ETag."
    )
    assert "The response has no ETag header." in message
    assert "Response: 200 (Content-Type: application/json) body: {" in message


def test_assert_protected_names_the_428_step_when_only_the_requirement_is_missing() -> None:
    document = Document.objects.create(title="a")
    url = f"/api/custom/docs/{document.pk}/"  # PATCH left out of the methods
    with pytest.raises(AssertionError) as failure:
        assert_protected(APIClient(), url, "PATCH", data={"title": "b"})

    message = str(failure.value)
    assert message.startswith(f"assert_protected(PATCH {url}) failed at step 3 of 5")
    assert "without a precondition answers 428" in message
    assert "Expected status 428, got 200" in message
    assert "Steps that passed:" in message


class AssertProtectedUnderUnittest(TestCase):
    """assert_protected reads the same in a unittest TestCase."""

    def test_passes(self) -> None:
        document = Document.objects.create(title="a")
        assert_protected(self.client, f"/docs/{document.pk}/", "DELETE")
        self.assertFalse(Document.objects.filter(pk=document.pk).exists())  # noqa: PT009

    def test_fails_as_a_test_failure(self) -> None:
        document = Document.objects.create(title="a")
        with self.assertRaises(self.failureException):  # noqa: PT027
            assert_protected(self.client, f"/api/plain/docs/{document.pk}/", "DELETE")


# --- The audit as a test -------------------------------------------------------------------------


def test_assert_all_protected_passes_when_every_unsafe_pattern_is_protected() -> None:
    assert_all_protected("tests.test_testing")


def test_assert_all_protected_lists_the_unprotected_patterns() -> None:
    with pytest.raises(AssertionError) as failure:
        assert_all_protected("tests.support.audit_urls")
    message = str(failure.value)
    assert "plain/docs/<int:pk>/ (document-plain)" in message
    assert "docs/<int:pk>/ (document-detail)" not in message.replace("plain/docs", "")
    assert "allow=[...]" in message


def test_assert_all_protected_accepts_an_allow_list() -> None:
    with pytest.raises(AssertionError) as failure:
        assert_all_protected("tests.support.audit_urls", allow=["document-plain"])
    assert "document-plain" not in str(failure.value)


# --- The pytest plugin -----------------------------------------------------------------------------


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert any(ep.value == "django_preconditions.testing.pytest_plugin" for ep in entry_points)


def test_the_plugin_fixtures(
    preconditions_client: PreconditionsClient,
    preconditions_api_client: Any,
    async_preconditions_client: AsyncPreconditionsClient,
    assert_protected: Any,
    assert_all_protected: Any,
) -> None:
    assert isinstance(preconditions_client, PreconditionsClient)
    assert isinstance(preconditions_api_client, PreconditionsAPIClient)
    assert isinstance(async_preconditions_client, AsyncPreconditionsClient)
    document = Document.objects.create(title="a")
    assert_protected(
        preconditions_api_client, f"/api/docs/{document.pk}/", "PATCH", data={"title": "b"}
    )
    assert_all_protected("tests.test_testing")


def test_the_etag_is_read_with_the_credentials_of_the_write() -> None:
    """The GET that learns a missing ETag carries the write's own headers (here HTTP Basic
    authentication for a viewset that only shows a user's own documents)."""
    import base64

    owner = User.objects.create_user("owner", password="pw")
    document = Document.objects.create(title="a", owner=owner)
    basic = "Basic " + base64.b64encode(b"owner:pw").decode()
    client = PreconditionsAPIClient()
    url = f"/api/owned/docs/{document.pk}/"

    response = client.patch(url, {"title": "b"}, format="json", headers={"Authorization": basic})

    assert response.status_code == 200, response.content
    assert Document.objects.get(pk=document.pk).title == "b"
    anonymous = PreconditionsAPIClient().patch(url, {"title": "c"}, format="json")
    assert anonymous.status_code in (401, 403)  # no credentials: no ETag either


def test_the_etag_of_a_created_resource_is_remembered_for_its_location() -> None:
    client = PreconditionsAPIClient()

    created = client.post("/api/docs/", {"title": "new", "body": ""}, format="json")

    assert created.status_code == 201
    location = created.headers["Location"]
    assert client.etag_for(location) == created.headers["ETag"]
    client.fetch_missing_etags = False  # so a 200 proves the remembered ETag was sent
    response = client.put(location, {"title": "renamed", "body": ""}, format="json")
    assert response.status_code == 200


def test_the_plugin_imports_before_django_settings_are_configured() -> None:
    """pytest loads ``pytest11`` plugins before pytest-django configures settings: importing
    the plugin (and so the package) must not read settings, or every project's test run that
    has the package installed fails to start."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", "import django_preconditions.testing.pytest_plugin"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
