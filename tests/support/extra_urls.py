"""URL patterns for tests/testapp/extra_views.py, mounted under /extra/ in tests/support/urls.py."""

from __future__ import annotations

from django.urls import path

from tests.testapp import extra_views

urlpatterns = [
    path("counted/docs/<int:pk>/", extra_views.counted_document, name="extra-counted"),
    path(
        "async/counted/docs/<int:pk>/",
        extra_views.async_counted_document,
        name="extra-async-counted",
    ),
    path("cached/docs/<int:pk>/", extra_views.cached_document, name="extra-cached"),
    path("get-put/docs/<int:pk>/", extra_views.get_put_document, name="extra-get-put"),
    path("staff/docs/<int:pk>/", extra_views.staff_document, name="extra-staff"),
    path("options/docs/<int:pk>/", extra_views.document_with_options, name="extra-options"),
    path("condition/comma/", extra_views.comma_etag, name="extra-comma-etag"),
    path(
        "cbv/owned/docs/<int:pk>/",
        extra_views.OwnedDocumentJsonView.as_view(),
        name="extra-cbv-owned",
    ),
    path(
        "cbv/counted/docs/<int:pk>/",
        extra_views.CountedDocumentJsonView.as_view(),
        name="extra-cbv-counted",
    ),
    path(
        "cbv/async/counted/docs/<int:pk>/",
        extra_views.AsyncCountedDocumentJsonView.as_view(),
        name="extra-cbv-async-counted",
    ),
]
