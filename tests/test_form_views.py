"""``PreconditionRequiredMixin``, ``require_preconditions`` and the middleware around Django's
own generic, form-based views as browsers use them: a form that carries the version in a
hidden field and saves with ``expected_version`` (rules 41, 52), a ``CreateView`` with the
mixin. The module is its own URLconf (``pytest.mark.urls(__name__)``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django import forms
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template import engines
from django.test import override_settings
from django.urls import path
from django.views import View
from django.views.generic import CreateView, DetailView, UpdateView
from django.views.generic.detail import SingleObjectMixin

from django_preconditions.decorators import require_preconditions
from django_preconditions.views import PreconditionRequiredMixin
from tests.support.documents import state
from tests.support.middleware import MIDDLEWARE
from tests.testapp.models import Document, Note

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


# --- views ---------------------------------------------------------------------------------


class VersionForm(forms.ModelForm):  # type: ignore[type-arg]
    """A model form that carries the version it was rendered from in a hidden field, as
    docs/migrating.md advises for "an HTML form of your own": the view saves with it."""

    version = forms.CharField(widget=forms.HiddenInput)

    class Meta:
        model = Note
        fields = ["title"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk is not None:
            self.initial["version"] = self.instance.version_token


class HiddenVersionFormMixin:
    model = Note
    form_class = VersionForm
    template_name = "testapp/document_form.html"
    success_url = "/done/"

    def form_valid(self, form: Any) -> HttpResponse:
        self.object = form.save(commit=False)
        self.object.save(expected_version=form.cleaned_data["version"])
        return HttpResponseRedirect(self.success_url)


class NoteHiddenVersionUpdate(  # type: ignore[misc]
    HiddenVersionFormMixin, PreconditionRequiredMixin, UpdateView
):
    """Mixin with the default policy (POST not required); the form carries the version."""


class PlainNoteHiddenVersionUpdate(HiddenVersionFormMixin, UpdateView):  # type: ignore[misc]
    """No mixin: protected by a PRECONDITIONS["VIEWS"] rule in the test."""


class DocumentExplicitVersion(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    """A JSON PUT that saves with the version the client put in the body (``expected_version``),
    inside the mixin's protection; ``?again=1`` saves once more afterwards (a counter)."""

    model = Document

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        data = json.loads(request.body)
        document.title = data["title"]
        document.save(expected_version=data["version"])
        if request.GET.get("again"):
            document.counter += 1
            document.save()
        return JsonResponse({"title": document.title, "counter": document.counter})


class DocumentCreate(PreconditionRequiredMixin, CreateView):  # type: ignore[misc]
    model = Document
    fields = ["title", "body"]
    template_name = "testapp/document_form.html"
    success_url = "/done/"


class SelectForUpdate:
    """Locks the row it edits, as Django users do under ATOMIC_REQUESTS."""

    model = Document
    fields = ["title"]
    template_name = "testapp/document_form.html"
    success_url = "/done/"

    def get_queryset(self) -> Any:
        queryset = super().get_queryset()  # type: ignore[misc]
        return queryset.select_for_update() if self.request.method == "POST" else queryset  # type: ignore[attr-defined]


class LockingUpdate(SelectForUpdate, PreconditionRequiredMixin, UpdateView):  # type: ignore[misc]
    precondition_methods = ["POST", "PUT", "PATCH", "DELETE"]


class PlainLockingUpdate(SelectForUpdate, UpdateView):  # type: ignore[misc]
    pass


@require_preconditions(lambda request: Document.objects.select_for_update(), methods=["POST"])
def locking_function(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.title = request.POST["title"]
    document.save()
    return HttpResponseRedirect("/done/")


class UserPageDetail(PreconditionRequiredMixin, DetailView):  # type: ignore[misc]
    """A page that greets the user, as most sites' base templates do."""

    model = Document

    def render_to_response(self, context: Any, **kwargs: Any) -> HttpResponse:
        template = engines["django"].from_string("Hello {{ user }}: {{ object.title }}")
        return HttpResponse(template.render(context, self.request))


urlpatterns = [
    path("hidden/notes/<int:pk>/", NoteHiddenVersionUpdate.as_view()),
    path(
        "mw-hidden/notes/<int:pk>/", PlainNoteHiddenVersionUpdate.as_view(), name="hunt-mw-hidden"
    ),
    path("explicit/docs/<int:pk>/", DocumentExplicitVersion.as_view()),
    path("create/docs/", DocumentCreate.as_view()),
    path("locking/<int:pk>/", LockingUpdate.as_view()),
    path("plain-locking/<int:pk>/", PlainLockingUpdate.as_view()),
    path("locking-function/<int:pk>/", locking_function),
    path("user-page/<int:pk>/", UserPageDetail.as_view()),
]


# --- rule 52 / 41: a save with an explicit expected_version inside a protected view ----------


def test_control_the_hidden_version_save_works_without_protection():
    """Outside any protected view the form's save works (the receiver saves again)."""
    note = Note.objects.create(title="First Title")
    note.refresh_from_db()
    note.title = "Second Title"
    note.save(expected_version=note.version_token)
    assert Note.objects.get(pk=note.pk).slug == "second-title"


def test_rule_52_mixin_hidden_version_form_with_a_post_save_receiver_saves(client):
    """The form carries the current version; the view saves with it; Note's post_save
    receiver saves the row again (update_fields). The request's own write must not be
    answered 412 (rule 52) — and the form must work."""
    note = Note.objects.create(title="First Title")
    note.refresh_from_db()
    assert client.get(f"/hidden/notes/{note.pk}/").status_code == 200
    response = client.post(
        f"/hidden/notes/{note.pk}/", {"title": "Second Title", "version": note.version_token}
    )
    stored = Note.objects.get(pk=note.pk)
    assert (response.status_code, stored.title) == (302, "Second Title")


def test_rule_52_middleware_hidden_version_form_with_a_post_save_receiver_saves(client):
    """The same form on a plain UpdateView protected by a settings rule, with the current
    If-Match as well."""
    note = Note.objects.create(title="First Title")
    note.refresh_from_db()
    rule = {"model": "testapp.Note", "lookup_url_kwarg": "pk", "methods": ["POST"]}
    with override_settings(
        MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"VIEWS": {"hunt-mw-hidden": rule}}
    ):
        response = client.post(
            f"/mw-hidden/notes/{note.pk}/",
            {"title": "Second Title", "version": note.version_token},
            headers={"If-Match": note.etag},
        )
    stored = Note.objects.get(pk=note.pk)
    assert (response.status_code, stored.title) == (302, "Second Title")


def test_rule_52_a_second_save_after_an_explicit_version_save_is_not_answered_412(client, document):
    """Autocommit: the first save is committed, the second is refused against the loaded
    version, and the client is told 412 for a write that was applied."""
    response = client.put(
        f"/explicit/docs/{document.pk}/?again=1",
        json.dumps({"title": "new", "version": document.version_token}),
        content_type="application/json",
        headers={"If-Match": document.etag},
    )
    stored = Document.objects.get(pk=document.pk)
    assert (response.status_code, stored.title, stored.counter) == (200, "new", 1)


def test_rule_41_a_put_saved_with_an_explicit_version_answers_the_new_etag(client, document):
    old = document.etag
    response = client.put(
        f"/explicit/docs/{document.pk}/",
        json.dumps({"title": "new", "version": document.version_token}),
        content_type="application/json",
        headers={"If-Match": old},
    )
    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == "new"
    assert response["ETag"] == document.etag != old


# --- CreateView with the mixin ------------------------------------------------------------------


def test_create_view_with_the_mixin_is_not_a_500(client):
    """views.py: the mixin is for "Django's View, DetailView, UpdateView, DeleteView and
    friends"; docs/views.md promises ImproperlyConfigured for a view it cannot serve. A
    CreateView (inherits get_object()) gets an AttributeError 500 on every GET."""
    response = client.get("/create/docs/")
    assert response.status_code == 200


# --- ATOMIC_REQUESTS: the object is loaded outside the request transaction -----------------------


def _needs_select_for_update() -> None:
    if not connection.features.has_select_for_update:
        pytest.skip("select_for_update() is a no-op on this database (run on PostgreSQL)")


@pytest.mark.django_db(transaction=True)
def test_mixin_loads_a_select_for_update_queryset_inside_atomic_requests(
    client, document, atomic_requests
):
    """Without the mixin the view runs in ATOMIC_REQUESTS' transaction and may lock the row
    in get_queryset(); the mixin's own request transaction ("as_view() marks the view")
    must do the same, not load the object in autocommit."""
    _needs_select_for_update()
    assert client.post(f"/plain-locking/{document.pk}/", {"title": "plain"}).status_code == 302
    document.refresh_from_db()
    response = client.post(
        f"/locking/{document.pk}/", {"title": "locked"}, headers={"If-Match": document.etag}
    )
    assert response.status_code == 302
    assert state(document.pk)[0] == "locked"  # type: ignore[index]


@pytest.mark.django_db(transaction=True)
def test_decorator_loads_a_select_for_update_queryset_inside_atomic_requests(
    client, document, atomic_requests
):
    _needs_select_for_update()
    response = client.post(
        f"/locking-function/{document.pk}/",
        {"title": "locked"},
        headers={"If-Match": document.etag},
    )
    assert response.status_code == 302
    assert state(document.pk)[0] == "locked"  # type: ignore[index]
