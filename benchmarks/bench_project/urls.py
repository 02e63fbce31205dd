from __future__ import annotations

from bench_app import views
from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import SimpleRouter

router = SimpleRouter()
for prefix, viewset in (
    ("plain-model/docs", views.PlainModelDocViewSet),
    ("columns/docs", views.ColumnsDocViewSet),
    ("ours/docs", views.OursDocViewSet),
    ("ext/docs", views.ExtDocViewSet),
    ("conc/docs", views.ConcDocViewSet),
    ("plain/wide", views.PlainWideViewSet),
    ("ours/wide", views.OursWideViewSet),
    ("ext/wide", views.ExtWideViewSet),
):
    router.register(prefix, viewset, basename=prefix.replace("/", "-"))

urlpatterns = [
    path("admin/", admin.site.urls),
    path("drf/", include(router.urls)),
    path("fn/plain/<int:pk>/", views.plain_doc, name="plain-doc"),
    path("fn/ours/<int:pk>/", views.ours_doc, name="ours-doc"),
    path("rule/docs/<int:pk>/", views.doc_by_rule, name="doc-by-rule"),
    path("throughput/ours/<int:pk>/", views.throughput_ours, name="throughput-ours"),
    path("throughput/locked/<int:pk>/", views.throughput_locked, name="throughput-locked"),
]
