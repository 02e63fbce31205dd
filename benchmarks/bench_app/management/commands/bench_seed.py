"""``manage.py bench_seed``: replace the benchmark rows with a fresh, known set."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from bench_app.models import ConcDoc, Doc, PlainDoc, TokenDoc, Wide

BODY = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
) * 2


class Command(BaseCommand):
    help = (
        "Delete the benchmark rows and create DOCS documents (the same rows in each document "
        "table: PlainDoc, Doc, TokenDoc, ConcDoc) and WIDE wide rows."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--docs", type=int, default=1000)
        parser.add_argument("--wide", type=int, default=1)

    def handle(self, *args: Any, docs: int, wide: int, **options: Any) -> None:
        published = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
        with transaction.atomic():
            for model in (PlainDoc, Doc, TokenDoc, ConcDoc):
                model.objects.all().delete()
                model.objects.bulk_create(
                    model(
                        pk=index,
                        title=f"Document {index}",
                        body=BODY,
                        status="published" if index % 2 else "draft",
                        counter=0,
                        published=published,
                    )
                    for index in range(1, docs + 1)
                )
            Wide.objects.all().delete()
            Wide.objects.bulk_create(Wide(pk=index) for index in range(1, wide + 1))
        self.stdout.write(f"Seeded {docs} documents and {wide} wide rows.")
