"""The plain Django side of the example: two JSON views over one object, protected two ways,
and the pages (home, playground).

- ``document_detail`` (/documents/<id>/) is protected in code, by ``require_preconditions``;
  ``DocumentView`` (/cbv/documents/<id>/) is the same as a class-based view, with
  ``PreconditionRequiredMixin``.
- ``note_detail`` (/notes/<id>/) has no decorator at all: ``PreconditionMiddleware`` protects
  it because ``PRECONDITIONS["VIEWS"]`` in settings names it (``"note-detail"``).

Both are ``csrf_exempt`` because they are a JSON API for scripts and the playground; a real
project using session authentication would keep CSRF protection and send the token.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django.views.generic.detail import SingleObjectMixin

from django_preconditions import require_preconditions
from django_preconditions.views import PreconditionRequiredMixin

from .models import Document, Note

READ_AND_WRITE = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]


class DocumentForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title", "body"]


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["text"]


def document_data(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "title": document.title,
        "body": document.body,
        "last_modified": document.last_modified.isoformat(),
    }


def note_data(note: Note) -> dict[str, Any]:
    return {
        "id": note.pk,
        "document": note.document_id,
        "text": note.text,
        "last_modified": note.last_modified.isoformat(),
    }


def _json_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    """The request's JSON object, or a 400 response saying what is wrong with it."""
    try:
        data = json.loads(request.body or b"null")
    except ValueError as exc:
        return JsonResponse({"error": "invalid_json", "message": str(exc)}, status=400)
    if not isinstance(data, dict):
        return JsonResponse(
            {"error": "invalid_json", "message": 'Send a JSON object, e.g. {"title": "…"}.'},
            status=400,
        )
    return data


def _save_json(request: HttpRequest, form_class: type[forms.ModelForm], instance: Any) -> Any:
    """Apply the request's JSON object to ``instance`` through ``form_class`` and save it
    (for a protected view, that save is the compare-and-swap); or a 400 response when the
    body or a field is invalid."""
    data = _json_body(request)
    if isinstance(data, JsonResponse):
        return data
    form = form_class(data, instance=instance)
    if not form.is_valid():
        return JsonResponse({"error": "invalid", "fields": form.errors.get_json_data()}, status=400)
    return form.save()


# -- /documents/<id>/: protected in code ----------------------------------------------------


@csrf_exempt
@require_http_methods(READ_AND_WRITE)  # outside: 405 comes before any 412/428 (rule 12)
@require_preconditions(Document)
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET, PUT (``{"title": …, "body": …}``) and DELETE one document.

    The decorator has loaded the document (404 when absent), answered 304/412/428 where due,
    and made this view's ``save()``/``delete()`` a compare-and-swap against the version the
    client sent. It adds ``ETag``/``Last-Modified`` to the response.
    """
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "DELETE":
        document.delete()  # DELETE … WHERE id = … AND version_token = <checked version>
        return HttpResponse(status=204)
    if request.method == "PUT":
        # The save is UPDATE … WHERE id = … AND version_token = <the checked version>.
        saved = _save_json(request, DocumentForm, document)
        if isinstance(saved, JsonResponse):
            return saved
        document = saved
    return JsonResponse(document_data(document))


# -- /cbv/documents/<id>/: the same, as a class-based view -----------------------------------


@method_decorator(csrf_exempt, name="dispatch")
class DocumentView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    """GET, PUT and DELETE one document; ``PreconditionRequiredMixin`` loads it once (the
    handlers' ``get_object()`` costs no query) and does what the decorator does above."""

    model = Document
    http_method_names = ["get", "head", "options", "put", "delete"]

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return JsonResponse(document_data(self.get_object()))

    def put(self, request: HttpRequest, pk: int) -> HttpResponse:
        saved = _save_json(request, DocumentForm, self.get_object())
        if isinstance(saved, JsonResponse):
            return saved
        return JsonResponse(document_data(saved))

    def delete(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.get_object().delete()
        return HttpResponse(status=204)


# -- /notes/<id>/: no decorator; PRECONDITIONS["VIEWS"] + PreconditionMiddleware -------------


@csrf_exempt
@require_http_methods(READ_AND_WRITE)
def note_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET, PUT (``{"text": …}``) and DELETE one note — written as if preconditions did not
    exist. The middleware lets this view answer first (404, 405 for PATCH), checks the
    preconditions when it saves or deletes the note (a compare-and-swap, in a transaction that
    a refusal rolls back), and adds the validators (or a 304) to its 200."""
    note = Note.objects.filter(pk=pk).first()
    if note is None:
        return JsonResponse({"error": "not_found", "message": f"No note {pk}."}, status=404)
    if request.method == "DELETE":
        note.delete()
        return HttpResponse(status=204)
    if request.method == "PUT":
        saved = _save_json(request, NoteForm, note)
        if isinstance(saved, JsonResponse):
            return saved
        note = saved
    return JsonResponse(note_data(note))


# -- /unprotected/documents/<id>/: the control, without preconditions -------------------------


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def unprotected_document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The same document, read and written with no precondition at all: what every Django view
    does by default. Two clients that read, edit and save here overwrite each other's changes
    silently (the lost update); the load test and the playground use it as the control."""
    document = Document.objects.filter(pk=pk).first()
    if document is None:
        return JsonResponse({"error": "not_found", "message": f"No document {pk}."}, status=404)
    if request.method == "PUT":
        saved = _save_json(request, DocumentForm, document)
        if isinstance(saved, JsonResponse):
            return saved
        document = saved
    return JsonResponse(document_data(document))


# -- pages ------------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "documents/home.html",
        {
            "documents": Document.objects.all()[:20],
            "notes": Note.objects.select_related("document")[:20],
        },
    )


def playground(request: HttpRequest) -> HttpResponse:
    """The playground page; its scenarios pick their targets from these lists."""
    return render(
        request,
        "documents/playground.html",
        {
            "targets": {
                "documents": [
                    {"id": document.pk, "label": document.title, **document_data(document)}
                    for document in Document.objects.all()[:50]
                ],
                "notes": [
                    {"id": note.pk, "label": note.text[:40], **note_data(note)}
                    for note in Note.objects.all()[:50]
                ],
            }
        },
    )


@require_POST
@transaction.atomic
def reset_demo_data(request: HttpRequest) -> HttpResponse:
    """The playground's "Reset demo data": the documents and notes as load_demo_data makes them,
    under the ids 1, 2, 3 that links and bookmarks use (users are left alone); back to the
    playground."""
    from .management.commands.load_demo_data import DOCUMENTS

    note_pk = 0
    kept_notes = []
    Document.objects.exclude(pk__in=range(1, len(DOCUMENTS) + 1)).delete()
    for pk, (title, body, notes) in enumerate(DOCUMENTS, start=1):
        document, _ = Document.objects.update_or_create(
            pk=pk, defaults={"title": title, "body": body}
        )
        for text in notes:  # the notes keep their ids too, in load_demo_data's order
            note_pk += 1
            kept_notes.append(note_pk)
            Note.objects.update_or_create(pk=note_pk, defaults={"document": document, "text": text})
    Note.objects.exclude(pk__in=kept_notes).delete()
    return redirect("playground")
