"""``manage.py load_demo_data``: a few documents and notes, and a demo superuser.

Idempotent: the documents and notes are created only in a database without documents, and
the superuser only when there is none of that name, so running it again (``make demo`` does,
every time) keeps whatever was edited since.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from documents.models import Document, Note

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "admin"  # demo only: never use this in a real project

DOCUMENTS: list[tuple[str, str, list[str]]] = [
    (
        "Meeting notes",
        "Agenda: release plan, documentation, the example project.",
        ["Ask Bob about the release date.", "Alice owns the documentation."],
    ),
    (
        "Release checklist",
        "1. Tests pass on every database.\n2. Docs build.\n3. Changelog updated.",
        ["Do not forget MariaDB."],
    ),
    (
        "Style guide",
        "Errors say what happened, why, and the exact next step.",
        [],
    ),
]


class Command(BaseCommand):
    help = "Create the demo documents, notes and the demo superuser (admin / admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where the server will run, for the links printed at the end.",
        )

    @transaction.atomic
    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        created = 0
        if not Document.objects.exists():
            for title, body, notes in DOCUMENTS:
                document = Document.objects.create(title=title, body=body)
                for text in notes:
                    Note.objects.create(document=document, text=text)
                created += 1 + len(notes)
        user_model = get_user_model()
        if not user_model._default_manager.filter(username=DEMO_USERNAME).exists():
            user_model._default_manager.create_superuser(  # type: ignore[attr-defined]
                username=DEMO_USERNAME, email="admin@example.com", password=DEMO_PASSWORD
            )
            created += 1
        base_url = base_url.rstrip("/")
        self.stdout.write(f"Demo data: {created} object(s) created, the rest already existed.")
        self.stdout.write(
            self.style.WARNING(
                f"Demo superuser (demo only): username {DEMO_USERNAME!r}, "
                f"password {DEMO_PASSWORD!r}"
            )
        )
        self.stdout.write(
            "\n".join(
                [
                    f"  Start page   {base_url}/",
                    f"  Playground   {base_url}/playground/",
                    f"  API          {base_url}/api/documents/",
                    f"  Swagger UI   {base_url}/api/docs/",
                    f"  Admin        {base_url}/admin/",
                ]
            )
        )
