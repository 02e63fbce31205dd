"""Protected views over the integrity test models (rules 50-53), written the way
docs/views.md shows: the view sets fields from the JSON body and calls ``save()``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from django_preconditions.decorators import require_preconditions
from django_preconditions.enforcement import set_validators
from django_preconditions.models import VersionedModel
from tests.testapp.models import Document, NamedDocument, Note, UuidDocument


def json_put(
    model: type[VersionedModel], fields: tuple[str, ...], *, saves: int = 1, source: Any = None
) -> Callable[..., HttpResponse]:
    """A protected PUT that creates the object when absent (``If-None-Match: *``) and saves
    it ``saves`` times, one field per save after the first (a second save in the view)."""

    @require_preconditions(source or model, allow_create=True)
    def view(request: HttpRequest, pk: Any) -> HttpResponse:
        instance = request.preconditions.instance or model(pk=pk)  # type: ignore[attr-defined]
        created = instance._state.adding
        data = json.loads(request.body or b"{}")
        for field in fields:
            if field in data:
                setattr(instance, field, data[field])
        instance.save()
        for field in fields[1:saves]:
            setattr(instance, field, f"{getattr(instance, field)}+")
            instance.save(update_fields=[field])
        body = {field: getattr(instance, field) for field in fields}
        response = JsonResponse(body, status=201 if created else 200)
        return set_validators(response, instance)

    return view


def _owned(request: HttpRequest) -> Any:
    return Document.objects.filter(owner=request.user.pk)


@require_preconditions(_owned, allow_create=True)
async def owned_async_create(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance or Document(pk=pk)  # type: ignore[attr-defined]
    created = document._state.adding
    document.title = json.loads(request.body)["title"]
    await document.asave()
    return JsonResponse({"title": document.title}, status=201 if created else 200)


@require_preconditions(NamedDocument)
def named_deferred(request: HttpRequest, pk: int) -> HttpResponse:
    """Loads the row again with a deferred field and saves it (rule 44): the save of a
    multi-table child names every field, so Django reads the deferred one during the save."""
    document = NamedDocument.objects.defer("title").get(pk=pk)
    document.name = json.loads(request.body)["name"]
    document.save()
    return set_validators(JsonResponse({"name": document.name}), document)


@require_preconditions(Document)
def draft_then_save(request: HttpRequest, pk: int) -> HttpResponse:
    """Saves a draft in its own ``atomic()`` block and rolls it back (``?keep=0``), then,
    unless ``?draft_only=1``, saves the real change (rule 52)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    title = json.loads(request.body)["title"]
    with transaction.atomic():
        document.title = f"{title} (draft)"
        document.save()
        transaction.set_rollback(True)
    if request.GET.get("draft_only"):
        document.refresh_from_db()
        return JsonResponse({"title": document.title})
    document.title = title
    document.save()
    return JsonResponse({"title": document.title})


class HookFailed(Exception):
    """What an ``on_commit`` callback of the project raised (a task queue down, say)."""


def _failing_hook() -> None:
    raise HookFailed


@require_preconditions(Document)
def save_despite_a_failing_hook(request: HttpRequest, pk: int) -> HttpResponse:
    """Saves in an ``atomic()`` block whose earlier ``on_commit`` callback raises at COMMIT
    (the save is committed; Django runs no later callback), then saves again (rule 52)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            transaction.on_commit(_failing_hook)
            document.title = json.loads(request.body)["title"]
            document.save()
    except HookFailed:
        pass
    if request.GET.get("again"):
        document.body = "second"
        document.save(update_fields=["body"])
    return JsonResponse({"title": document.title})


@require_preconditions(Document)
def delete_taken_back(request: HttpRequest, pk: int) -> HttpResponse:
    """Deletes the row in an ``atomic()`` block it rolls back, then saves it (rule 52)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    with transaction.atomic():
        Document.objects.get(pk=pk).delete()
        transaction.set_rollback(True)
    document.title = json.loads(request.body)["title"]
    document.save()
    return JsonResponse({"title": document.title})


urlpatterns = [
    path("docs/<int:pk>/", json_put(Document, ("title", "body"))),
    path("hook/docs/<int:pk>/", save_despite_a_failing_hook),
    path("undelete/docs/<int:pk>/", delete_taken_back),
    path("draft/docs/<int:pk>/", draft_then_save),
    path("named/deferred/<int:pk>/", named_deferred),
    path("twice/docs/<int:pk>/", json_put(Document, ("title", "body"), saves=2)),
    path("uuid/<uuid:pk>/", json_put(UuidDocument, ("title",))),
    path("named/<int:pk>/", json_put(NamedDocument, ("name", "title"))),
    path("notes/<int:pk>/", json_put(Note, ("title",))),
    path("owned/docs/<int:pk>/", json_put(Document, ("title",), source=_owned)),
    path("owned/async/docs/<int:pk>/", owned_async_create),
]
