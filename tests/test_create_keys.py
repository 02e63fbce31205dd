"""Issue 9, item 12: create-by-PUT with an id the primary key cannot hold is 404, never 500,
and a create-by-PUT never leaves the table unable to accept a POST (rules 26, 31, 38, 40).
Run on SQLite, PostgreSQL (where the sequence is advanced) and MariaDB."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from django_preconditions.creation import JSON_SAFE_INTEGER, highest_creatable_id
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

CREATE_ONLY = {"If-None-Match": "*"}
# DRF viewset with precondition_allow_create, and the decorator with allow_create=True.
PATHS = ["/api/creating/docs/{pk}/", "/create/docs/{pk}/"]


def put(path: str, pk: int | str) -> int:
    response = Client().put(
        path.format(pk=pk),
        {"title": "created"},
        content_type="application/json",
        headers=CREATE_ONLY,
    )
    return response.status_code


def highest() -> int:
    pk = Document._meta.pk
    assert pk is not None
    return highest_creatable_id(pk, "default")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "pk", [2**63, 2**63 - 1, 2**64 + 5, 10**30, 0, JSON_SAFE_INTEGER + 1], ids=str
)
def test_item_12_an_id_the_key_cannot_hold_or_would_exhaust_is_404(path: str, pk: int) -> None:
    assert put(path, pk) == 404
    assert not Document.objects.filter(pk__gte=1).exists()


@pytest.mark.parametrize("path", PATHS)
def test_item_12_the_highest_creatable_id_is_created_and_posts_still_work(path: str) -> None:
    assert highest() == JSON_SAFE_INTEGER  # 64-bit keys: limited by what JSON clients read
    assert put(path, highest()) == 201
    response = APIClient().post("/api/docs/", {"title": "after"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["id"] != highest()


@pytest.mark.parametrize("path", PATHS)
def test_item_12_a_post_after_a_create_by_put_ahead_of_the_sequence_gets_a_new_id(
    path: str,
) -> None:
    """PostgreSQL's sequence is not advanced by an explicit id: the next POSTs would have
    reached it and failed on the primary key. It is advanced now."""
    first = Document.objects.create(title="first").pk
    ahead = first + 3
    assert put(path, ahead) == 201
    ids = []
    for _ in range(5):
        response = APIClient().post("/api/docs/", {"title": "post"}, format="json")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    assert ahead not in ids
    assert len(set(ids)) == 5
    if connection.vendor == "postgresql":
        assert min(ids) > ahead  # the sequence was moved past the created id
