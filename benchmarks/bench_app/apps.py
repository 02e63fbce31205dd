from __future__ import annotations

from django.apps import AppConfig


class BenchAppConfig(AppConfig):
    name = "bench_app"
    default_auto_field = "django.db.models.BigAutoField"
