from __future__ import annotations

from bench_app import views
from django.urls import include, path
from rest_framework.routers import SimpleRouter

router = SimpleRouter()
for prefix, viewset in (
    ("plain/docs", views.PlainDocViewSet),
    ("ours/docs", views.OursDocViewSet),
    ("ext/docs", views.ExtDocViewSet),
    ("plain/wide", views.PlainWideViewSet),
    ("ours/wide", views.OursWideViewSet),
    ("ext/wide", views.ExtWideViewSet),
):
    router.register(prefix, viewset, basename=prefix.replace("/", "-"))

urlpatterns = [
    path("drf/", include(router.urls)),
    path("rule/docs/<int:pk>/", views.doc_by_rule, name="doc-by-rule"),
    path("throughput/ours/<int:pk>/", views.throughput_ours, name="throughput-ours"),
    path("throughput/locked/<int:pk>/", views.throughput_locked, name="throughput-locked"),
]
