"""URL patterns for tests/testapp/middleware_views.py, mounted under /mw/ in tests/urls.py."""

from __future__ import annotations

from django.urls import path

from tests.testapp import middleware_views

urlpatterns = [
    path("owned/docs/<int:pk>/", middleware_views.owned_document, name="mw-owned"),
    path("read-only/docs/<int:pk>/", middleware_views.read_only_document, name="mw-read-only"),
    path("audited/docs/<int:pk>/", middleware_views.audited_document, name="mw-audited"),
    path("counters/<int:pk>/", middleware_views.bump_counter, name="mw-counter"),
]
