"""The middleware, with a rule that names one class of a row and a view that loads it through
another: a proxy, a multi-table parent or child. One row, any class (rule 53), for what the view
loads as for what it writes: the GET carries the row's validators (rule 39) and gets its 304
(rule 28), and a write the view refuses or makes no change for is still judged (rule 11)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client
from django.urls import path

from tests.support.middleware import put, settings_rule
from tests.testapp.models import Article, Document, SpecialArticle

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_middleware_classes")]


def _edit(model: type[Any]) -> Any:
    """A view loading the row as ``model``; a PUT without a string title is refused (400)
    before any write, and an unchanged title writes nothing."""

    def view(request: HttpRequest, pk: int) -> JsonResponse:
        instance = get_object_or_404(model, pk=pk)
        if request.method == "PUT":
            title = json.loads(request.body or b"{}").get("title")
            if not isinstance(title, str):
                return JsonResponse({"error": "title required"}, status=400)
            if title != instance.title:
                instance.title = title
                instance.save()
        return JsonResponse({"title": instance.title})

    return view


urlpatterns = [
    path("documents/<int:pk>/", _edit(Document), name="documents"),
    path("articles/<int:pk>/", _edit(Article), name="articles"),
    path("special-articles/<int:pk>/", _edit(SpecialArticle), name="special-articles"),
]

CASES = [
    ("documents", "testapp.DocumentProxy"),
    ("articles", "testapp.SpecialArticle"),
    ("special-articles", "testapp.Article"),
    ("articles", "testapp.Article"),  # the same class: the control
]


def _row(name: str) -> Any:
    if name == "documents":
        return Document.objects.create(title="a")
    return SpecialArticle.objects.create(title="a", tag="t")


@pytest.mark.parametrize(("name", "label"), CASES)
def test_a_read_through_another_class_carries_the_rows_validators(name: str, label: str) -> None:
    row = _row(name)
    client = Client()
    with settings_rule(name, model=label, lookup_url_kwarg="pk"):
        read = client.get(f"/{name}/{row.pk}/")
        again = client.get(f"/{name}/{row.pk}/", headers={"If-None-Match": row.etag})
    assert read.status_code == 200
    assert read["ETag"] == row.etag
    assert read.has_header("Last-Modified")
    assert again.status_code == 304


@pytest.mark.parametrize(("name", "label"), CASES)
@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"title": 1}, {"If-Match": '"stale"'}, 412),  # rule 11: 412 before the body's 400
        ({"title": 1}, {}, 428),
        ({"title": "a"}, {"If-Match": '"stale"'}, 412),  # nothing to change: still judged
        ({"title": "a"}, {}, 428),
    ],
)
def test_a_write_that_writes_nothing_through_another_class_is_judged(
    name: str, label: str, body: Any, headers: dict[str, str], status: int
) -> None:
    row = _row(name)
    with settings_rule(name, model=label, lookup_url_kwarg="pk"):
        response = put(Client(), f"/{name}/{row.pk}/", body, **headers)
    assert response.status_code == status, response.content


@pytest.mark.parametrize(("name", "label"), CASES)
def test_a_write_through_another_class_names_the_version_it_left(name: str, label: str) -> None:
    row = _row(name)
    with settings_rule(name, model=label, lookup_url_kwarg="pk"):
        stale = put(Client(), f"/{name}/{row.pk}/", {"title": "b"}, **{"If-Match": '"stale"'})
        written = put(Client(), f"/{name}/{row.pk}/", {"title": "b"}, **{"If-Match": row.etag})
    assert stale.status_code == 412
    assert written.status_code == 200, written.content
    stored = type(row).objects.get(pk=row.pk)
    assert (stored.title, written["ETag"]) == ("b", stored.etag)
