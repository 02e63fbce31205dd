"""``manage.py preconditions_audit``: the protection audit on the command line, so that a
project can read it as a table, feed it to tools as JSON, or fail CI on unprotected views."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext, gettext_noop

from django_preconditions.audit import AuditRow, build_report
from django_preconditions.rules import current_rules

COLUMNS = ("ROUTE", "NAME", "METHODS", "PROTECTION", "PROTECTED", "HEADERS", "MODE")


HELP = gettext_noop(
    "List the URL patterns that accept unsafe methods (POST, PUT, PATCH, DELETE) and what "
    "protects each: decorator, class-based mixin, DRF mixin, settings, admin rule, or none."
)


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.description = gettext(HELP)  # `--help` in the active language
        parser.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help=gettext("Output format."),
        )
        parser.add_argument(
            "--fail-on-unprotected",
            action="store_true",
            help=gettext(
                "Exit with status 1 when a pattern accepting unsafe methods is unprotected."
            ),
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="include_safe",
            help=gettext("Also list patterns that accept only safe methods (GET, HEAD, OPTIONS)."),
        )
        parser.add_argument(
            "--include-admin",
            action="store_true",
            help=gettext("Also list the admin site's own patterns (left out by default)."),
        )
        parser.add_argument(
            "--urlconf",
            default=None,
            help=gettext("Audit this URLconf module instead of ROOT_URLCONF."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = build_report(
            options["urlconf"],
            include_safe=options["include_safe"],
            include_admin=options["include_admin"],
        )
        if options["format"] == "json":
            self.stdout.write(json.dumps([row.as_dict() for row in rows], indent=2))
        else:
            self._write_table(rows)
        if current_rules().error:
            self.stderr.write(
                gettext(
                    "Admin rules could not be read, so only settings rules are shown: "
                    "%(error)s. Run `manage.py migrate django_preconditions`."
                )
                % {"error": current_rules().error}
            )
        unprotected = [row for row in rows if row.unprotected]
        if options["fail_on_unprotected"] and unprotected:
            listed = ", ".join(row.name or row.route for row in unprotected)
            raise CommandError(
                gettext(
                    "%(count)d URL pattern(s) accept unsafe methods without requiring "
                    "preconditions: %(listed)s. Protect each with require_preconditions, "
                    "PreconditionRequiredMixin or the DRF PreconditionMixin, or name it in "
                    'PRECONDITIONS["VIEWS"] or an admin rule (with PreconditionMiddleware '
                    "installed)."
                )
                % {"count": len(unprotected), "listed": listed}
            )

    def _write_table(self, rows: list[AuditRow]) -> None:
        cells = [COLUMNS]
        notes: list[str] = []
        for row in rows:
            protection = row.protection
            if row.note:
                notes.append(f"[{len(notes) + 1}] {row.route}: {row.note}")
                protection = f"{protection} [{len(notes)}]"
            cells.append(
                (
                    row.route,
                    row.name or "-",
                    " ".join(row.methods) or gettext("(safe only)"),
                    protection,
                    " ".join(row.protected_methods) or "-",
                    ", ".join(row.required_headers) or "-",
                    row.mode or "-",
                )
            )
        widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
        for line in cells:
            text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths))
            self.stdout.write(text.rstrip())
        for note in notes:
            self.stdout.write(note)
        unsafe = [row for row in rows if row.methods]
        unprotected = sum(row.unprotected for row in unsafe)
        summary = gettext(
            "%(unsafe)d URL pattern(s) accept unsafe methods: %(protected)d protected, "
            "%(unprotected)d unprotected."
        ) % {
            "unsafe": len(unsafe),
            "protected": len(unsafe) - unprotected,
            "unprotected": unprotected,
        }
        self.stdout.write("")
        self.stdout.write(self.style.WARNING(summary) if unprotected else summary)
