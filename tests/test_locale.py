"""Translations: the French and German catalogs are complete, up to date and compiled, and a
client that asks for French or German (``Accept-Language`` with ``LocaleMiddleware``) gets its
error bodies in that language — with the same JSON keys, codes and problem ``type`` URIs
(CONFORMANCE rule 34: the format is the contract, only the words change).

Regenerate the catalogs with ``make messages`` (makemessages for fr and de, then
compilemessages); translate the entries it reports as untranslated, and run it again.
"""

from __future__ import annotations

import ast
import gettext as gettext_module
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import translation

import django_preconditions

PACKAGE = Path(django_preconditions.__file__).resolve().parent
LOCALES = ("fr", "de")
# The arguments of `make messages` (Makefile: MAKEMESSAGES_ARGS).
MAKEMESSAGES = {
    "locale": list(LOCALES),
    "no_obsolete": True,
    "add_location": "file",
    "extensions": ["py", "html", "txt"],
    "verbosity": 0,
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


def po_path(locale: str, root: Path = PACKAGE) -> Path:
    return root / "locale" / locale / "LC_MESSAGES" / "django.po"


def po_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a .po file: msgid, msgid_plural, msgstr forms and flags (header left out)."""
    entries: list[dict[str, Any]] = []
    flags: list[str] = []
    current: dict[str, Any] | None = None
    key: Any = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,"):
            flags = [flag.strip() for flag in line[2:].split(",")]
            continue
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("msgid "):
            current = {"msgid": "", "plural": None, "msgstr": {}, "flags": flags}
            entries.append(current)
            flags, key, rest = [], "msgid", line[len("msgid ") :]
        elif line.startswith("msgid_plural "):
            key, rest = "plural", line[len("msgid_plural ") :]
        elif line.startswith("msgstr["):
            key, rest = int(line[7 : line.index("]")]), line[line.index("]") + 2 :]
        elif line.startswith("msgstr "):
            key, rest = 0, line[len("msgstr ") :]
        else:
            rest = line
        assert current is not None, f"{path}: text before the first msgid"
        value = ast.literal_eval(rest)
        if key in ("msgid", "plural"):
            current[key] = (current[key] or "") + value
        else:
            current["msgstr"][key] = current["msgstr"].get(key, "") + value
    return [entry for entry in entries if entry["msgid"]]


def msgids(path: Path) -> set[tuple[str, str | None]]:
    return {(entry["msgid"], entry["plural"]) for entry in po_entries(path)}


def require_gettext() -> None:
    """Skip without GNU gettext (makemessages and msgfmt need it), except in CI, where
    `make messages` / .ci/system-packages.sh gettext installs it and a skip would hide drift."""
    if shutil.which("xgettext") and shutil.which("msgfmt"):
        return
    message = "GNU gettext is not installed: run `.ci/system-packages.sh gettext`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_msgid_is_translated_and_none_is_fuzzy(locale):
    entries = po_entries(po_path(locale))

    assert len(entries) > 100
    untranslated = [
        entry["msgid"]
        for entry in entries
        if not entry["msgstr"] or not all(entry["msgstr"].values())
    ]
    fuzzy = [entry["msgid"] for entry in entries if "fuzzy" in entry["flags"]]
    assert untranslated == [], f"untranslated in {locale}; translate them and run `make messages`"
    assert fuzzy == [], f"fuzzy in {locale}; check them, drop the flag, run `make messages`"


def test_makemessages_finds_no_new_or_vanished_msgid(tmp_path, monkeypatch):
    """The catalogs hold exactly the strings of the code: `make messages` on a copy of the
    package adds nothing and removes nothing."""
    require_gettext()
    copy = tmp_path / "django_preconditions"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    monkeypatch.chdir(copy)

    call_command("makemessages", **MAKEMESSAGES)

    for locale in LOCALES:
        before, after = msgids(po_path(locale)), msgids(po_path(locale, copy))
        assert sorted(after - before) == [], f"new strings, not in the {locale} catalog yet"
        assert sorted(before - after) == [], f"strings in the {locale} catalog no code uses"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalog_is_the_po_file(locale, tmp_path):
    """The committed .mo (what the wheel ships) says what the .po says."""
    require_gettext()
    compiled = tmp_path / "django.mo"
    subprocess.run(
        ["msgfmt", "--check-format", "-o", str(compiled), str(po_path(locale))], check=True
    )
    committed = po_path(locale).with_suffix(".mo")
    with compiled.open("rb") as fresh, committed.open("rb") as shipped:
        expected = gettext_module.GNUTranslations(fresh)
        actual = gettext_module.GNUTranslations(shipped)
    for entry in po_entries(po_path(locale)):
        if entry["plural"] is None:
            assert actual.gettext(entry["msgid"]) == expected.gettext(entry["msgid"])
        else:
            for n in (1, 2):
                assert actual.ngettext(entry["msgid"], entry["plural"], n) == expected.ngettext(
                    entry["msgid"], entry["plural"], n
                )


# --- Served in the client's language --------------------------------------------------------

ENGLISH_428_TITLE = "Precondition Required"
TRANSLATED = {
    "fr": {
        "title": "Précondition requise",
        "detail": "La requête PUT /docs/{pk}/ doit être conditionnelle, pour ne pas écraser une modification "
        "que vous n’avez pas vue, mais elle ne porte aucun en-tête de précondition. Envoyez "  # noqa: RUF001 (French typography)
        "If-Match ou If-Unmodified-Since.",
        "step": "Faites GET /docs/{pk}/ et gardez son en-tête de réponse ETag",
        "412": "Précondition non satisfaite",
        "drf": "Cette requête doit être conditionnelle",
    },
    "de": {
        "title": "Vorbedingung erforderlich",
        "detail": "Die Anfrage PUT /docs/{pk}/ muss bedingt sein, damit sie keine Änderung überschreibt, die "
        "Sie nicht gesehen haben, aber sie enthält keinen Vorbedingungs-Header. Senden Sie "
        "If-Match oder If-Unmodified-Since.",
        "step": "Rufen Sie GET /docs/{pk}/ auf und behalten Sie den Antwort-Header ETag",
        "412": "Vorbedingung fehlgeschlagen",
        "drf": "Diese Anfrage muss bedingt sein",
    },
}


@pytest.fixture(autouse=True)
def _back_to_the_default_language() -> Any:
    """LocaleMiddleware activates the client's language for the thread and leaves it there."""
    yield
    translation.deactivate()


def put(client: Client, path: str, language: str | None, **headers: str) -> Any:
    if language:
        headers["Accept-Language"] = language
    return client.put(path, "{}", content_type="application/json", headers=headers)


@override_settings(MIDDLEWARE=MIDDLEWARE)
@pytest.mark.parametrize("language", ["fr", "de"])
def test_428_problem_body_in_the_clients_language_with_the_same_keys_and_type(
    client, document, language
):
    """Rule 34: title, detail and steps translated; keys, code, reason, type unchanged."""
    path = f"/docs/{document.pk}/"
    english = put(client, path, None).json()
    translated = put(client, path, language)

    body = translated.json()
    assert translated.status_code == 428
    assert translated.headers["Content-Language"] == language
    assert body.keys() == english.keys()
    for key in ("type", "status", "instance", "code", "reason", "required_headers"):
        assert body[key] == english[key]
    assert body["type"] == "tag:django-preconditions,2026:precondition-required"
    texts = TRANSLATED[language]
    assert body["title"] == texts["title"] != ENGLISH_428_TITLE
    assert body["detail"] == texts["detail"].format(pk=document.pk)
    assert body["steps"][0] == texts["step"].format(pk=document.pk)


@override_settings(
    MIDDLEWARE=MIDDLEWARE,
    PRECONDITIONS={"ERROR_FORMAT": "json", "JSON_DETAILED_HEADERS": True},
)
def test_the_detailed_guidance_body_describes_the_headers_in_french(client, document):
    body = put(client, f"/docs/{document.pk}/", "fr").json()

    assert [item["description"] for item in body["required_headers"]] == [
        "l’ETag de votre dernier GET",  # noqa: RUF001
        "le Last-Modified de votre dernier GET",
    ]
    assert [item["name"] for item in body["required_headers"]] == [
        "If-Match",
        "If-Unmodified-Since",
    ]


@override_settings(MIDDLEWARE=MIDDLEWARE)
@pytest.mark.parametrize("language", ["fr", "de"])
def test_412_title_is_translated(client, document, language):
    response = put(client, f"/docs/{document.pk}/", language, **{"If-Match": '"stale"'})

    assert response.status_code == 412
    assert response.json()["title"] == TRANSLATED[language]["412"]
    assert response.json()["code"] == "precondition_failed"


@override_settings(MIDDLEWARE=MIDDLEWARE)
@pytest.mark.parametrize("language", ["fr", "de"])
def test_the_drf_adapter_answers_in_the_clients_language(client, document, language):
    response = put(client, f"/api/docs/{document.pk}/", language)

    assert response.status_code == 428
    body = response.json()
    assert body["title"] == TRANSLATED[language]["title"]
    assert body["type"] == "tag:django-preconditions,2026:precondition-required"


@pytest.mark.parametrize("language", ["fr", "de"])
def test_the_drf_default_details_are_translated(language):
    from django_preconditions.rest_framework import PreconditionRequired

    with translation.override(language):
        assert str(PreconditionRequired().detail).startswith(TRANSLATED[language]["drf"])


def test_system_check_messages_follow_the_active_language():
    from django_preconditions.checks import check_settings_block

    with (
        override_settings(PRECONDITIONS={"ALLOW_WILDCARD": "yes"}),
        translation.override("fr"),
    ):
        [error] = check_settings_block()
    assert error.id == "preconditions.E005"
    assert error.hint == "Donnez-lui la valeur : True ou False."


def test_view_key_checks_follow_the_active_language():
    """W004 and E017 (the checks of PRECONDITIONS["VIEWS"] against the URLconf) are
    translated too; the ids stay."""
    from django_preconditions.checks import check_view_keys

    views = {
        "document-plian": {"methods": ["PUT"]},
        "document-plain": {"model": "testapp.Document", "lookup_field": "title"},
    }
    with override_settings(PRECONDITIONS={"VIEWS": views}), translation.override("de"):
        messages = check_view_keys()
    by_id = {message.id: message for message in messages}
    assert set(by_id) >= {"preconditions.W004", "preconditions.E017"}
    assert "passt zu keinem URL-Muster" in by_id["preconditions.W004"].msg
    assert by_id["preconditions.W004"].hint.startswith("Meinten Sie 'document-plain'")
    assert by_id["preconditions.E017"].hint == (
        "Anfragen an diese View werden mit 428 abgelehnt, bis dies korrigiert ist."
    )


@pytest.mark.parametrize(
    ("language", "plural", "column"),
    [
        ("fr", "requêtes signalées seulement", "agent utilisateur"),
        ("de", "nur gemeldete Anfragen", "User-Agent"),
    ],
)
def test_the_report_only_requests_are_named_in_the_active_language(language, plural, column):
    from django_preconditions.reporting import ReportedRequest

    with translation.override(language):
        assert str(ReportedRequest._meta.verbose_name_plural) == plural
        assert str(ReportedRequest._meta.get_field("user_agent").verbose_name) == column


@override_settings(MIDDLEWARE=MIDDLEWARE)
def test_one_process_answers_each_client_in_its_own_language_in_turn(client, document):
    """Error texts are remembered per language: alternating clients never get another
    client's language (and English stays English)."""
    english = put(client, f"/docs/{document.pk}/", None, **{"If-Match": '"stale"'}).json()
    for language in ("fr", "de", "fr", None, "de"):
        body = put(client, f"/docs/{document.pk}/", language, **{"If-Match": '"stale"'}).json()
        expected = TRANSLATED[language]["412"] if language else english["title"]
        assert body["title"] == expected
        assert (body["detail"] == english["detail"]) is (language is None)


def test_remembered_error_texts_are_forgotten_when_the_catalog_settings_change(rf) -> None:
    """A change of LOCALE_PATHS, LANGUAGES, LANGUAGE_CODE, USE_I18N or INSTALLED_APPS can
    change what a message translates to: the texts remembered so far are dropped."""
    from django_preconditions import responses
    from django_preconditions.conditions import ResourceState, evaluate
    from django_preconditions.headers import EntityTag
    from django_preconditions.policy import Policy

    decision = evaluate("PUT", {"If-Match": '"old"'}, ResourceState(True, EntityTag("new")))
    with translation.override("fr"):
        responses.describe(decision, rf.put("/docs/1/"), Policy.resolve(()))
    assert responses._translated
    with override_settings(LOCALE_PATHS=[]):
        assert not responses._translated


@override_settings(MIDDLEWARE=MIDDLEWARE)
@pytest.mark.parametrize("language", ["fr", "de"])
@pytest.mark.parametrize(
    ("headers", "english"),
    [
        ({}, "carries no precondition header"),
        ({"If-None-Match": '"abc"'}, "none of its conditional headers"),
        ({"If-Unmodified-Since": "Fri, 31 Dec 9999 23:59:59 GMT"}, "later than the server"),
        ({"If-Unmodified-Since": "yesterday"}, "cannot be used here"),
        ({"If-Match": "*"}, "only says that some version exists"),
    ],
)
def test_every_reason_of_a_428_is_in_the_clients_language(
    client, document, language, headers, english
):
    """Rule 34: the reason inside a 428's detail is translated too, whichever it is."""
    path = f"/docs/{document.pk}/"
    assert english in put(client, path, None, **headers).json()["detail"]
    translated = put(client, path, language, **headers)
    assert translated.status_code == 428
    assert english not in translated.json()["detail"]
