"""URL patterns for tests/testapp/middleware_views.py, mounted under /mw/ in tests/support/urls.py."""

from __future__ import annotations

from django.urls import path

from tests.testapp import middleware_views

urlpatterns = [
    path("owned/docs/<int:pk>/", middleware_views.owned_document, name="mw-owned"),
    path("read-only/docs/<int:pk>/", middleware_views.read_only_document, name="mw-read-only"),
    path("audited/docs/<int:pk>/", middleware_views.audited_document, name="mw-audited"),
    path("counters/<int:pk>/", middleware_views.bump_counter, name="mw-counter"),
    path("cbv/docs/<int:pk>/", middleware_views.ReadOnlyDocumentView.as_view(), name="mw-cbv"),
    path("swallow/docs/<int:pk>/", middleware_views.swallowing_document, name="mw-swallow"),
    path("update/docs/<int:pk>/", middleware_views.updating_document, name="mw-update"),
    path("upsert/docs/<int:pk>/", middleware_views.upserting_document, name="mw-upsert"),
    path("rules/<str:key>/", middleware_views.rule_note, name="mw-rule-note"),
    path(
        "async/audited/docs/<int:pk>/",
        middleware_views.async_audited_document,
        name="mw-async-audited",
    ),
]
