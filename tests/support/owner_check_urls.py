"""Class-based views whose access control is in their own ``get_object()`` (a common Django
idiom): the mixin must load the object through it, so that its 404/403 come before any
412/428 (rules 12, 13). Mounted by tests/test_class_views.py with ``pytest.mark.urls``."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.generic.detail import SingleObjectMixin

from tests.testapp.models import Document
from tests.testapp.views import TitleJsonView


class OwnerCheckedView(TitleJsonView):
    model = Document

    def get_object(self, queryset: Any = None) -> Any:
        document = super().get_object(queryset)
        if document.owner_id != self.request.user.pk:
            raise Http404("not yours")
        return document


class ForbiddingView(OwnerCheckedView):
    """No argument, and 403: overrides often look like this."""

    def get_object(self) -> Any:  # type: ignore[override]
        document = SingleObjectMixin.get_object(self)
        if document.owner_id != self.request.user.pk:
            raise PermissionDenied
        return document


class AsyncOwnerCheckedView(OwnerCheckedView):
    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        document = await sync_to_async(self.get_object)()
        return JsonResponse({"title": document.title})

    async def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        document = await sync_to_async(self.get_object)()
        document.title = json.loads(request.body)["title"]
        await document.asave()
        return JsonResponse({"title": document.title})


class NoArgumentView(OwnerCheckedView):
    """An override without the queryset argument that reads through the default manager
    (on a replica, with a read-replica router)."""

    def get_object(self) -> Any:  # type: ignore[override]
        return Document.objects.get(pk=self.kwargs["pk"])


class BuiltOnThePreconditionObjectView(OwnerCheckedView):
    """An override that builds on ``get_precondition_object()``."""

    def get_object(self, queryset: Any = None) -> Any:
        return self.get_precondition_object()


urlpatterns = [
    path("no-argument/<int:pk>/", NoArgumentView.as_view()),
    path("built-on/<int:pk>/", BuiltOnThePreconditionObjectView.as_view()),
    path("owned/<int:pk>/", OwnerCheckedView.as_view()),
    path("forbidden/<int:pk>/", ForbiddingView.as_view()),
    path("async-owned/<int:pk>/", AsyncOwnerCheckedView.as_view()),
]
