"""PreconditionMiddleware with the responses and views real projects have: files and streams
(closed when a 304 or 412 replaces them), a view's own ETag or an inner
ConditionalGetMiddleware's (replaced by the row's, rules 19, 28), Range (206 is judged, rule
20), a view that saves on GET (the version it produced, rule 39), a PUT the view answers
without writing (judged, rules 29, 41), case-insensitive lookups (the row is identified,
rule 26), a copy read from a lagging replica (refused, not written over the primary, rule
44), and the middleware next to GZip, CSRF, i18n_patterns and TemplateResponse."""

from __future__ import annotations

import json
import tempfile
from typing import Any

import pytest
from django.conf import settings
from django.http import (
    FileResponse,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.test import Client, override_settings
from django.urls import path

from tests.testapp.models import Document

MIDDLEWARE = [*settings.MIDDLEWARE, "django_preconditions.middleware.PreconditionMiddleware"]
RULE = {"model": "testapp.Document", "lookup_url_kwarg": "pk"}

OPENED: list[Any] = []
CLOSED: list[str] = []


def file_view(request: Any, pk: int) -> Any:
    Document.objects.get(pk=pk)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    handle.write(b"x" * 100)
    handle.seek(0)
    OPENED.append(handle)
    return FileResponse(handle)


class Body:
    def __init__(self) -> None:
        self.parts = iter([b"a", b"b"])

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> bytes:
        return next(self.parts)

    def close(self) -> None:
        CLOSED.append("closed")


def stream_view(request: Any, pk: int) -> Any:
    Document.objects.get(pk=pk)
    return StreamingHttpResponse(Body())


def own_etag_view(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    response = JsonResponse({"title": document.title})
    response["ETag"] = '"view-own"'
    return response


def range_view(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    body = document.title.encode()
    if request.headers.get("Range") == "bytes=0-0":
        response = HttpResponse(body[:1], status=206)
        response["Content-Range"] = f"bytes 0-0/{len(body)}"
        return response
    return HttpResponse(body)


def detail(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    if request.method in ("PUT", "PATCH"):
        data = json.loads(request.body)
        for key, value in data.items():
            setattr(document, key, value)
        document.save()
    return JsonResponse({"title": document.title, "body": document.body})


urlpatterns = [
    path("h/file/<int:pk>/", file_view, name="h-file"),
    path("h/stream/<int:pk>/", stream_view, name="h-stream"),
    path("h/own/<int:pk>/", own_etag_view, name="h-own"),
    path("h/range/<int:pk>/", range_view, name="h-range"),
    path("h/detail/<int:pk>/", detail, name="h-detail"),
]

URLS = "tests.test_middleware_responses"


def protected(*names: str, middleware: list[str] | None = None, **extra: Any) -> Any:
    return override_settings(
        MIDDLEWARE=middleware or MIDDLEWARE,
        PRECONDITIONS={"VIEWS": dict.fromkeys(names, RULE)},
        **extra,
    )


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_304_closes_the_file_of_the_replaced_file_response() -> None:
    document = Document.objects.create(title="a")
    with protected("h-file"):
        response = Client().get(f"/h/file/{document.pk}/", headers={"If-None-Match": document.etag})
    assert response.status_code == 304
    assert OPENED[-1].closed, "the FileResponse's file was left open"


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_412_closes_the_file_of_the_replaced_file_response() -> None:
    document = Document.objects.create(title="a")
    with protected("h-file"):
        response = Client().get(f"/h/file/{document.pk}/", headers={"If-Match": '"stale"'})
    assert response.status_code == 412
    assert OPENED[-1].closed, "the FileResponse's file was left open"


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_304_closes_the_replaced_streaming_response() -> None:
    document = Document.objects.create(title="a")
    CLOSED.clear()
    with protected("h-stream"):
        response = Client().get(
            f"/h/stream/{document.pk}/", headers={"If-None-Match": document.etag}
        )
    assert response.status_code == 304
    assert CLOSED == ["closed"]


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_rule_28_a_304_carries_the_etag_the_200_carries() -> None:
    document = Document.objects.create(title="a")
    with protected("h-own"):
        client = Client()
        full = client.get(f"/h/own/{document.pk}/")
        cached = client.get(f"/h/own/{document.pk}/", headers={"If-None-Match": document.etag})
    assert full.status_code == 200
    # Either the 304 never happens for a tag the 200 did not carry, or it carries the 200's tag.
    assert cached.status_code != 304 or cached["ETag"] == full["ETag"], (
        full["ETag"],
        cached.status_code,
        cached["ETag"],
    )


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_rule_20_a_stale_if_match_on_a_range_get_is_412_not_206() -> None:
    document = Document.objects.create(title="abc")
    with protected("h-range"):
        response = Client().get(
            f"/h/range/{document.pk}/", headers={"If-Match": '"stale"', "Range": "bytes=0-0"}
        )
    assert response.status_code == 412, response.status_code


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_rule_28_a_matching_if_none_match_on_a_range_get_is_304_not_206() -> None:
    document = Document.objects.create(title="abc")
    with protected("h-range"):
        response = Client().get(
            f"/h/range/{document.pk}/",
            headers={"If-None-Match": document.etag, "Range": "bytes=0-0"},
        )
    assert response.status_code == 304, response.status_code


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_rule_19_get_put_round_trip_with_conditional_get_middleware_inside() -> None:
    document = Document.objects.create(title="a")
    middleware = [*MIDDLEWARE, "django.middleware.http.ConditionalGetMiddleware"]
    with protected("h-detail", middleware=middleware):
        client = Client()
        read = client.get(f"/h/detail/{document.pk}/")
        response = client.put(
            f"/h/detail/{document.pk}/",
            {"title": "new"},
            content_type="application/json",
            headers={"If-Match": read["ETag"]},
        )
    assert response.status_code == 200, (read["ETag"], document.etag, response.status_code)


# --- Views that save twice, raise, render templates; other middleware around ours ------------

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.core.exceptions import PermissionDenied  # noqa: E402
from django.http import Http404  # noqa: E402
from django.template.response import TemplateResponse  # noqa: E402
from django.views.decorators.csrf import csrf_protect  # noqa: E402

from tests.testapp.models import Entry, Folder  # noqa: E402


def save_twice(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    document.title = "one"
    document.save()
    document.counter += 1
    document.save()
    return JsonResponse({"title": document.title})


def two_instances(request: Any, pk: int) -> Any:
    first = Document.objects.get(pk=pk)
    second = Document.objects.get(pk=pk)
    first.title = "first"
    first.save()
    second.body = "second"
    second.save()
    return JsonResponse({"ok": True})


def folder_via_entry(request: Any, pk: int) -> Any:
    entry = Entry.objects.select_related("folder").filter(folder_id=pk).first()
    if entry is None:
        raise Http404
    if request.method == "PUT":
        entry.folder.name = json.loads(request.body)["name"]
        entry.folder.save()
    return JsonResponse({"name": entry.folder.name})


def raise_after_save(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    document.title = "saved"
    document.save()
    raise PermissionDenied


def template_view(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    from django.template import engines

    template = engines["django"].from_string("{{ d.title }}")
    return TemplateResponse(request, template, {"d": document})


@login_required
def private(request: Any, pk: int) -> Any:
    return detail(request, pk)


urlpatterns += [
    path("h/twice/<int:pk>/", save_twice, name="h-twice"),
    path("h/two/<int:pk>/", two_instances, name="h-two"),
    path("h/folder/<int:pk>/", folder_via_entry, name="h-folder"),
    path("h/raise/<int:pk>/", raise_after_save, name="h-raise"),
    path("h/template/<int:pk>/", template_view, name="h-template"),
    path("h/private/<int:pk>/", private, name="h-private"),
    path("h/csrf/<int:pk>/", csrf_protect(detail), name="h-csrf"),
]


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_rule_52_saving_twice_is_200_with_the_final_etag() -> None:
    document = Document.objects.create(title="a")
    with protected("h-twice"):
        response = Client().put(
            f"/h/twice/{document.pk}/",
            "{}",
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    stored = Document.objects.get(pk=document.pk)
    assert response.status_code == 200, response.content
    assert stored.counter == 1
    assert response["ETag"] == stored.etag


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_two_copies_of_the_row_saved_in_turn_are_the_views_own_doing() -> None:
    # Rule 52: after the first save the request follows the version it wrote; the second
    # copy (loaded before it) is the view's own, saved as the view asks, never a 412.
    document = Document.objects.create(title="a")
    with protected("h-two"):
        response = Client().put(
            f"/h/two/{document.pk}/",
            "{}",
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    stored = Document.objects.get(pk=document.pk)
    assert response.status_code == 200
    assert (stored.title, stored.body) == ("a", "second")  # the second copy, as saved
    assert response["ETag"] == stored.etag


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_select_related_load_is_the_row() -> None:
    folder = Folder.objects.create(name="a")
    Entry.objects.create(folder=folder, text="x")
    stale = folder.etag
    Folder.objects.get(pk=folder.pk).save()
    current = Folder.objects.get(pk=folder.pk).etag
    rule = {"model": "testapp.Folder", "lookup_url_kwarg": "pk"}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"h-folder": rule}}):
        client = Client()
        read = client.get(f"/h/folder/{folder.pk}/")
        assert read["ETag"] == current
        assert (
            client.get(f"/h/folder/{folder.pk}/", headers={"If-None-Match": current}).status_code
            == 304
        )
        r1 = client.put(
            f"/h/folder/{folder.pk}/",
            {"name": "b"},
            content_type="application/json",
            headers={"If-Match": stale},
        )
        assert r1.status_code == 412
        r2 = client.put(
            f"/h/folder/{folder.pk}/",
            {"name": "b"},
            content_type="application/json",
            headers={"If-Match": current},
        )
        assert r2.status_code == 200
        assert r2["ETag"] == Folder.objects.get(pk=folder.pk).etag


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_raise_after_save() -> None:
    document = Document.objects.create(title="a")
    with protected("h-raise"):
        response = Client().put(
            f"/h/raise/{document.pk}/",
            "{}",
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    stored = Document.objects.get(pk=document.pk)
    assert response.status_code == 403
    assert stored.title == "saved"  # the view's write stands, as without the middleware
    assert not response.has_header("ETag")


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_template_response_304_and_head() -> None:
    document = Document.objects.create(title="a")
    with protected("h-template"):
        client = Client()
        full = client.get(f"/h/template/{document.pk}/")
        assert full.status_code == 200
        assert full["ETag"] == document.etag
        assert (
            client.get(
                f"/h/template/{document.pk}/", headers={"If-None-Match": document.etag}
            ).status_code
            == 304
        )
        head = client.head(f"/h/template/{document.pk}/")
        assert head.status_code == 200
        assert head["ETag"] == document.etag
        head = client.head(f"/h/template/{document.pk}/", headers={"If-None-Match": document.etag})
        assert head.status_code == 304
        assert (
            client.head(f"/h/template/{document.pk}/", headers={"If-Match": '"x"'}).status_code
            == 412
        )


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_a_gzip_middleware_inside_keeps_the_round_trip() -> None:
    # (GZip listed first: its Vary goes on gzipped bodies only, our 304 has none; Django's
    # own ConditionalGetMiddleware inside GZip does the same.)
    document = Document.objects.create(title="a" * 150, body="b" * 500)
    middleware = [*MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    with protected("h-detail", middleware=middleware):
        client = Client()
        read = client.get(f"/h/detail/{document.pk}/", headers={"Accept-Encoding": "gzip"})
        assert read.status_code == 200
        again = client.get(
            f"/h/detail/{document.pk}/",
            headers={"Accept-Encoding": "gzip", "If-None-Match": read["ETag"]},
        )
        assert again.status_code == 304
        assert again.get("Vary") == read.get("Vary")
        response = client.put(
            f"/h/detail/{document.pk}/",
            {"title": "n"},
            content_type="application/json",
            headers={"If-Match": read["ETag"], "Accept-Encoding": "gzip"},
        )
    assert response.status_code == 200


@pytest.mark.urls(URLS)
@pytest.mark.django_db
@pytest.mark.parametrize("first", [True, False])
def test_csrf_either_order(first: bool) -> None:
    document = Document.objects.create(title="a")
    csrf = "django.middleware.csrf.CsrfViewMiddleware"
    pre = "django_preconditions.middleware.PreconditionMiddleware"
    middleware = [*settings.MIDDLEWARE, csrf, pre] if first else [*settings.MIDDLEWARE, pre, csrf]
    with protected("h-detail", "h-csrf", middleware=middleware):
        client = Client(enforce_csrf_checks=True)
        for url in (f"/h/detail/{document.pk}/", f"/h/csrf/{document.pk}/"):
            response = client.put(
                url,
                {"title": "n"},
                content_type="application/json",
                headers={"If-Match": '"stale"'},
            )
            assert response.status_code == 403, (url, response.status_code)
            assert not response.has_header("ETag")
    assert Document.objects.get(pk=document.pk).title == "a"


# --- A row found case-insensitively ----------------------------------------------------------

from tests.testapp.models import SluggedDocument  # noqa: E402

SLUG_RULE = {"model": "testapp.SluggedDocument", "lookup_field": "slug", "lookup_url_kwarg": "slug"}


def slug_view(request: Any, slug: str) -> Any:
    # Case-insensitive lookup (or a MySQL case-insensitive collation with slug=slug).
    row = SluggedDocument.objects.get(slug__iexact=slug)
    if request.method == "PUT":
        row.counter = json.loads(request.body)["counter"]
        row.save()
    return JsonResponse({"slug": row.slug, "counter": row.counter})


urlpatterns += [path("h/slug/<str:slug>/", slug_view, name="h-slug")]


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_rule_26_create_only_put_never_overwrites_a_row_the_view_found_case_insensitively() -> None:
    row = SluggedDocument.objects.create(slug="foo", counter=1)
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"h-slug": SLUG_RULE}}):
        response = Client().put(
            "/h/slug/FOO/",
            {"counter": 99},
            content_type="application/json",
            headers={"If-None-Match": "*"},
        )
    assert SluggedDocument.objects.get(pk=row.pk).counter == 1, response.status_code
    assert response.status_code == 412


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_rule_19_current_etag_via_case_insensitive_lookup_passes() -> None:
    row = SluggedDocument.objects.create(slug="foo", counter=1)
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"h-slug": SLUG_RULE}}):
        client = Client()
        read = client.get("/h/slug/FOO/")
        response = client.put(
            "/h/slug/FOO/",
            {"counter": 2},
            content_type="application/json",
            headers={"If-Match": read["ETag"]},
        )
    assert read["ETag"] == row.etag  # the row the view found is the one named
    assert response.status_code == 200, response.content
    assert SluggedDocument.objects.get(pk=row.pk).counter == 2


# --- A copy read from a lagging replica ------------------------------------------------------

from django.db import connections  # noqa: E402

from tests.test_replicas import ReplicaRouter  # noqa: E402


@pytest.mark.urls(URLS)
@pytest.mark.django_db(databases=["default", "replica"], transaction=True)
def test_rule_44_a_patch_built_from_a_lagging_replica_copy_never_overwrites_the_primary() -> None:
    """Primary: body "important" (version v2). Replica: still v1, body "". The client holds
    v2 and PATCHes the title only; the view loads through the router (the replica) and saves
    to the primary. The compare-and-swap must not let the v1 copy overwrite v2's body."""
    document = Document.objects.using("default").create(title="t", body="important")
    Document.objects.using("replica").create(pk=document.pk, title="t", body="")
    with connections["replica"].cursor() as cursor:
        cursor.execute(
            "UPDATE testapp_document SET version_token = %s WHERE id = %s",
            ["old-on-replica", document.pk],
        )
    with protected("h-detail", DATABASE_ROUTERS=[ReplicaRouter()]):
        response = Client().patch(
            f"/h/detail/{document.pk}/",
            {"title": "edited"},
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    stored = Document.objects.using("default").get(pk=document.pk)
    assert stored.body == "important" or response.status_code == 412, (
        response.status_code,
        stored.title,
        stored.body,
    )


# --- A GET that saves, i18n_patterns, a PUT the view answers without writing -----------------

from django.conf.urls.i18n import i18n_patterns  # noqa: E402


def counting_view(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    if request.method == "GET":
        document.counter += 1  # a view counter, saved on every read
        document.save(update_fields=["counter"])
    else:
        document.title = json.loads(request.body)["title"]
        document.save()
    return JsonResponse({"title": document.title, "counter": document.counter})


urlpatterns += [path("h/count/<int:pk>/", counting_view, name="h-count")]
urlpatterns += i18n_patterns(path("h/i18n/<int:pk>/", detail, name="h-i18n"))


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_rule_39_a_get_that_saved_the_row_carries_the_version_it_produced() -> None:
    document = Document.objects.create(title="a")
    with protected("h-count"):
        client = Client()
        read = client.get(f"/h/count/{document.pk}/")
        stored = Document.objects.get(pk=document.pk)
        assert read.json()["counter"] == stored.counter == 1
        assert read["ETag"] == stored.etag, (read["ETag"], stored.etag)


@pytest.mark.urls(URLS)
@pytest.mark.django_db
def test_i18n_patterns_rule_by_name() -> None:
    document = Document.objects.create(title="a")
    middleware = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        *settings.MIDDLEWARE[1:],
        "django_preconditions.middleware.PreconditionMiddleware",
    ]
    with protected("h-i18n", middleware=middleware):
        client = Client()
        read = client.get(f"/en/h/i18n/{document.pk}/")
        assert read.status_code == 200
        assert read["ETag"] == document.etag
        assert (
            client.get(
                f"/en/h/i18n/{document.pk}/", headers={"If-None-Match": document.etag}
            ).status_code
            == 304
        )
        assert (
            client.put(
                f"/en/h/i18n/{document.pk}/", {"title": "x"}, content_type="application/json"
            ).status_code
            == 428
        )
        unprefixed = client.put(
            f"/h/i18n/{document.pk}/", {"title": "x"}, content_type="application/json"
        )
        assert unprefixed.status_code == 302  # LocaleMiddleware's redirect, nothing written
        assert (
            client.put(
                f"/en/h/i18n/{document.pk}/",
                {"title": "x"},
                content_type="application/json",
                headers={"If-Match": document.etag},
            ).status_code
            == 200
        )


def noop_put(request: Any, pk: int) -> Any:
    document = Document.objects.get(pk=pk)
    title = json.loads(request.body)["title"]
    if title != document.title:  # nothing to do when unchanged
        document.title = title
        document.save()
    return JsonResponse({"title": document.title})


urlpatterns += [path("h/noop/<int:pk>/", noop_put, name="h-noop")]


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("if_match", "status"), [(None, 428), ('"stale"', 412)])
def test_rules_19_29_a_put_the_view_answers_without_writing_is_still_judged(
    if_match: str | None, status: int
) -> None:
    document = Document.objects.create(title="a")
    headers = {"If-Match": if_match} if if_match else {}
    with protected("h-noop"):
        response = Client().put(
            f"/h/noop/{document.pk}/",
            {"title": "a"},
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == status, response.status_code


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_rule_41_an_unchanged_put_carries_the_current_etag() -> None:
    document = Document.objects.create(title="a")
    with protected("h-noop"):
        response = Client().put(
            f"/h/noop/{document.pk}/",
            {"title": "a"},
            content_type="application/json",
            headers={"If-Match": document.etag},
        )
    assert response.status_code == 200
    assert response.get("ETag") == document.etag


def slug_pair_view(request: Any, slug: str) -> Any:
    """Loads the row the URL names exactly, then a row whose slug differs only in case (a
    case-sensitive database keeps both), and saves the first."""
    row = SluggedDocument.objects.get(slug=slug)
    SluggedDocument.objects.get(slug=slug.lower())
    if request.method == "PUT":
        row.counter = json.loads(request.body)["counter"]
        row.save()
    return JsonResponse({"slug": row.slug, "counter": row.counter})


urlpatterns += [path("h/slug-pair/<str:slug>/", slug_pair_view, name="h-slug-pair")]


@pytest.mark.urls(URLS)
@pytest.mark.django_db(transaction=True)
def test_the_row_with_the_exact_value_wins_over_one_of_another_case() -> None:
    if connections["default"].vendor == "mysql":
        pytest.skip("MySQL's collation keeps one of 'FOO' and 'foo' (the slug is unique)")
    exact = SluggedDocument.objects.create(slug="FOO", counter=1)
    other = SluggedDocument.objects.create(slug="foo", counter=5)
    rule = {**SLUG_RULE}
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"h-slug-pair": rule}}):
        client = Client()
        read = client.get("/h/slug-pair/FOO/")
        stale = client.put(
            "/h/slug-pair/FOO/",
            {"counter": 9},
            content_type="application/json",
            headers={"If-Match": other.etag},
        )
        current = client.put(
            "/h/slug-pair/FOO/",
            {"counter": 2},
            content_type="application/json",
            headers={"If-Match": exact.etag},
        )
    assert read["ETag"] == exact.etag
    assert stale.status_code == 412
    assert current.status_code == 200
    assert SluggedDocument.objects.get(pk=exact.pk).counter == 2
    assert SluggedDocument.objects.get(pk=other.pk).counter == 5
