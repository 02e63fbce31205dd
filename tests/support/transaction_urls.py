"""URLs of tests/test_request_transactions.py, mounted under /tx/."""

from __future__ import annotations

from django.urls import path

from tests.testapp import transaction_views

urlpatterns = [
    path("docs/<int:pk>/", transaction_views.racing_document),
    path("cbv/docs/<int:pk>/", transaction_views.RacingDocumentView.as_view()),
    path("mw/docs/<int:pk>/", transaction_views.racing_plain_document, name="tx-mw"),
    path(
        "api/docs/<int:pk>/",
        transaction_views.RacingDocumentViewSet.as_view({"get": "retrieve", "put": "update"}),
    ),
    path(
        "slugged/<int:pk>/",
        transaction_views.SluggedDocumentViewSet.as_view(
            {"get": "retrieve", "patch": "partial_update"}
        ),
    ),
]
