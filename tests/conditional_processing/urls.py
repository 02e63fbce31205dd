from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("last_modified/", views.last_modified_view1),
    path("last_modified2/", views.last_modified_view2),
    path("etag/", views.etag_view1),
    path("etag2/", views.etag_view2),
    path("unquoted_etag/", views.etag_view_unquoted),
    path("weak_etag/", views.etag_view_weak),
    path("no_etag/", views.etag_view_none),
    path("async/", views.async_index),
]
