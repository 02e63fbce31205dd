"""The example project's own tests, written as a team adopting django-preconditions would
write them: with the fixtures of its pytest plugin (see docs/testing.md).

Run from ``example_project/``: ``../.venv/bin/python -m pytest``.
"""

from __future__ import annotations

from typing import Any

import pytest

from documents.models import Document, Note

pytestmark = pytest.mark.django_db


def test_no_unsafe_endpoint_is_left_unprotected(assert_all_protected: Any) -> None:
    # The start page and the playground are pages; the unprotected document view is the
    # demo's deliberate "before" picture.
    assert_all_protected(
        allow=["home", "playground", "reset-demo-data", "unprotected-document-detail"]
    )


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_the_api_is_protected(
    preconditions_api_client: Any, assert_protected: Any, method: str
) -> None:
    document = Document.objects.create(title="Draft", body="")
    url = f"/api/documents/{document.pk}/"
    assert_protected(preconditions_api_client, url, method, data={"title": "Final", "body": ""})


@pytest.mark.parametrize(
    ("url", "data"),
    [("/documents/{pk}/", {"title": "Final", "body": ""}), ("/notes/{pk}/", {"text": "Final"})],
)
def test_the_django_views_are_protected(
    preconditions_client: Any, assert_protected: Any, url: str, data: dict[str, str]
) -> None:
    """The decorated view, and the note view protected by settings and the middleware."""
    document = Document.objects.create(title="Draft")
    row = document if "documents" in url else Note.objects.create(document=document, text="Draft")
    assert_protected(preconditions_client, url.format(pk=row.pk), "PUT", data=data)


def test_plain_writes_keep_working_with_the_preconditions_client(
    preconditions_api_client: Any,
) -> None:
    """Written before the API required If-Match; only the client fixture changed."""
    client = preconditions_api_client
    document = Document.objects.create(title="Draft", body="")
    url = f"/api/documents/{document.pk}/"

    assert client.put(url, {"title": "One", "body": ""}, format="json").status_code == 200
    assert client.patch(url, {"title": "Two"}, format="json").status_code == 200
    assert client.delete(url).status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()


def test_a_stale_copy_is_still_refused(preconditions_api_client: Any) -> None:
    client = preconditions_api_client
    document = Document.objects.create(title="Draft", body="")
    url = f"/api/documents/{document.pk}/"
    client.get(url)
    Document.objects.filter(pk=document.pk).get().save()  # another writer

    response = client.patch(url, {"title": "Mine"}, format="json")

    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "Draft"
