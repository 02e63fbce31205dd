from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests.testapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("docs/<int:pk>/", views.document_detail, name="document-detail"),
    path("reuse/docs/<int:pk>/", views.document_detail_reusing_instance, name="document-reuse"),
    path("plain/docs/<int:pk>/", views.plain_document_detail, name="document-plain"),
    path("async/docs/<int:pk>/", views.async_document_detail, name="document-async"),
    path(
        "async/plain/docs/<int:pk>/",
        views.async_plain_document_detail,
        name="document-async-plain",
    ),
    path("create/docs/<int:pk>/", views.document_put_create, name="document-create"),
    path("custom/docs/<int:pk>/", views.document_custom_policy, name="document-custom"),
    path("owned/docs/<int:pk>/", views.owned_document, name="document-owned"),
    path("folders/<int:pk>/", views.folder_detail, name="folder-detail"),
    path("plain/counters/<int:pk>/", views.plain_counter, name="plain-counter"),
    path("cbv/docs/<int:pk>/", views.DocumentJsonView.as_view(), name="cbv-document"),
    path(
        "cbv/async/docs/<int:pk>/", views.AsyncDocumentJsonView.as_view(), name="cbv-async-document"
    ),
    path("cbv/update/<int:pk>/", views.DocumentUpdate.as_view(), name="cbv-update"),
    path("cbv/delete/<int:pk>/", views.DocumentDelete.as_view(), name="cbv-delete"),
    path("condition/", include("tests.conditional_processing.urls")),
    path("extra/", include("tests.support.extra_urls")),
    path("api/", include("tests.support.drf_urls")),
    path("tx/", include("tests.support.transaction_urls")),
    path("mw/", include("tests.support.middleware_urls")),
    path("integrity/", include("tests.support.integrity_urls")),
]
