from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from documents import api, views
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

router = DefaultRouter()
# Route names "api-document-list" and "api-document-detail"; "document-detail" is the
# function view's.
router.register("documents", api.DocumentViewSet, basename="api-document")

urlpatterns = [
    path("", views.home, name="home"),
    path("playground/", views.playground, name="playground"),
    path("playground/reset/", views.reset_demo_data, name="reset-demo-data"),
    path("documents/<int:pk>/", views.document_detail, name="document-detail"),
    path("cbv/documents/<int:pk>/", views.DocumentView.as_view(), name="document-cbv"),
    path("notes/<int:pk>/", views.note_detail, name="note-detail"),
    path(
        "unprotected/documents/<int:pk>/",
        views.unprotected_document_detail,
        name="unprotected-document-detail",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include(router.urls)),
    path("admin/", admin.site.urls),
]


def not_found(request: HttpRequest, exception: Any) -> HttpResponse:
    """404 for a URL that matches no pattern: under /api/, in the shape DRF gives a missing
    object (so the OpenAPI document's 404 holds for ids the router cannot even route, such as
    "1.5"); Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


handler404 = not_found
