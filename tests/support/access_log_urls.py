"""A view that writes before its own access check (an access log, then the owner's queryset):
what the middleware must not answer 412 to before the view has authorised the caller
(tests/test_middleware.py mounts it with ``pytest.mark.urls``)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path

from tests.testapp.models import Document, PlainCounter


def logged_document(request: HttpRequest, pk: int) -> HttpResponse:
    PlainCounter.objects.create(counter=pk)  # the access log, before the owner check
    document = get_object_or_404(Document.objects.filter(owner=request.user.pk), pk=pk)
    document.title = json.loads(request.body)["title"]
    document.save()
    return JsonResponse({"title": document.title})


def update_then_redirect(request: HttpRequest, pk: int) -> HttpResponse:
    """A form-style view that writes the row with ``QuerySet.update()`` (it never loads it)
    and redirects: nothing tells the middleware which write was the row's."""
    Document.objects.filter(pk=pk).update(title=json.loads(request.body)["title"])
    return HttpResponseRedirect("/done/")


urlpatterns = [
    path("logged/<int:pk>/", logged_document, name="logged"),
    path("redirect/<int:pk>/", update_then_redirect, name="redirect"),
]
