"""The admin: lost-update protection for versioned models, and the admin for protection rules.

Rules cited: 30 (admin rules configure protection), 44 and 45 (one compare-and-swap per
write; a concurrent delete is never a 500 nor a resurrected row), 46 (admin writes change the
version) — CONFORMANCE.md.
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse

from django_preconditions.admin import (
    VERSION_FIELD_NAME,
    ConflictReport,
    VersionedModelAdmin,
    read_version,
)
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import ProtectedEndpoint
from tests.support.admin_pages import (
    bound_data,
    change_url,
    changelist_url,
    delete_url,
    form_of,
    messages_of,
    open_form,
    save,
)
from tests.support.concurrency import run_in_threads
from tests.support.middleware import MIDDLEWARE
from tests.testapp.admin import DocumentAdmin
from tests.testapp.models import Document, Entry, Folder, PlainCounter

pytestmark = pytest.mark.django_db


# A second admin site: Document with a plain ModelAdmin (the query-count baseline) and Folder
# (deletes that cascade) with VersionedModelAdmin. Used through @pytest.mark.urls(__name__).
plain_site = admin.AdminSite(name="plain_admin")
plain_site.register(Document, admin.ModelAdmin)
plain_site.register(Folder, VersionedModelAdmin)
urlpatterns = [path("admin/", admin.site.urls), path("plain-admin/", plain_site.urls)]


@pytest.fixture
def editor(django_user_model: Any) -> Client:
    """A second superuser, editing at the same time as ``admin_client``."""
    user = django_user_model.objects.create_superuser("editor2", "editor2@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


# --- VersionedModelAdmin: the change form ----------------------------------------------------


def test_change_form_carries_a_signed_version_binding_model_pk_token_and_base_values(
    admin_client: Client,
) -> None:
    document = Document.objects.create(title="a", body="b")
    data = open_form(admin_client, document)
    signed = read_version(data[VERSION_FIELD_NAME], Document)
    assert (signed.pk, signed.token) == (str(document.pk), document.version_token)
    assert signed.base["title"] == "a"
    assert signed.base["body"] == "b"
    assert document.version_token not in data[VERSION_FIELD_NAME]  # signed, compressed: opaque


def test_rule_44_saving_a_current_form_is_one_compare_and_swap_update(
    admin_client: Client,
) -> None:
    document = Document.objects.create(title="a")
    data = open_form(admin_client, document)
    with CaptureQueriesContext(connection) as queries:
        response = save(admin_client, document, data, title="mine")
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.title == "mine"
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert "version_token" in updates[0].split("WHERE", 1)[1]


def test_stale_change_form_shows_the_conflict_keeps_the_input_and_changes_nothing(
    admin_client: Client, editor: Client
) -> None:
    document = Document.objects.create(title="base", body="text")
    mine = open_form(admin_client, document)
    theirs = open_form(editor, document)
    assert save(editor, document, theirs, title="theirs").status_code == 302

    response = save(admin_client, document, mine, title="mine")

    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == "theirs"
    form = form_of(response)
    assert form["title"].value() == "mine"  # the input is kept
    assert 'value="mine"' in response.content.decode()
    report: ConflictReport = form.preconditions_conflict
    assert report.changed_by == "editor2"
    assert "Title" in report.change_message
    [difference] = report.differences
    assert (difference.label, difference.base, difference.current) == ("Title", "base", "theirs")
    assert difference.state == "conflict"
    content = response.content.decode()
    assert "changed by editor2" in content
    assert "nothing was saved" in content
    # Said once (the error above the form), not again in the box's heading.
    assert content.lower().count("changed by editor2") == 1
    assert "Their version and yours" in content
    assert "Reload: discard my changes" in content
    assert "Apply my changes to the current version" in content


def test_reapplying_after_a_conflict_saves_the_input_on_the_current_version(
    admin_client: Client, editor: Client
) -> None:
    document = Document.objects.create(title="base")
    mine = open_form(admin_client, document)
    save(editor, document, open_form(editor, document), title="theirs")
    conflict = save(admin_client, document, mine, title="mine")
    refreshed = bound_data(form_of(conflict))
    assert refreshed[VERSION_FIELD_NAME] != mine[VERSION_FIELD_NAME]

    response = admin_client.post(change_url(document), {**refreshed, "_continue": "1"})

    assert response.status_code == 302
    document.refresh_from_db()
    assert document.title == "mine"


def test_fields_only_the_other_editor_changed_show_their_value_and_survive_reapply(
    admin_client: Client, editor: Client
) -> None:
    document = Document.objects.create(title="base", body="old body")
    mine = open_form(admin_client, document)
    save(editor, document, open_form(editor, document), body="their body")

    conflict = save(admin_client, document, mine, title="mine")

    form = form_of(conflict)
    states = {item.name: item.state for item in form.preconditions_conflict.differences}
    assert states == {"body": "theirs"}
    assert form["body"].value() == "their body"  # not the stale value the editor posted
    assert form["title"].value() == "mine"
    admin_client.post(change_url(document), bound_data(form))
    document.refresh_from_db()
    assert (document.title, document.body) == ("mine", "their body")


def test_a_conflict_made_outside_the_admin_says_so(admin_client: Client) -> None:
    document = Document.objects.create(title="base")
    mine = open_form(admin_client, document)
    document.counter = 5
    document.save()

    response = save(admin_client, document, mine, title="mine")

    report = form_of(response).preconditions_conflict
    assert report.changed_by is None
    assert [item.name for item in report.differences] == ["counter"]
    assert "changed outside the admin" in response.content.decode()


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "did not carry the version"),
        ("forged", "had been altered"),
        (None, "belongs to another object"),
    ],
)
def test_missing_altered_or_foreign_version_is_a_form_error_not_an_overwrite(
    admin_client: Client, token: str | None, message: str
) -> None:
    document = Document.objects.create(title="a")
    other = Document.objects.create(title="other")
    data = open_form(admin_client, document)
    if token is None:
        token = open_form(admin_client, other)[VERSION_FIELD_NAME]
    elif token == "forged":
        token = data[VERSION_FIELD_NAME][:-2] + "xx"

    response = save(admin_client, document, data, title="mine", **{VERSION_FIELD_NAME: token})

    assert response.status_code == 200
    assert message in str(form_of(response).non_field_errors())
    document.refresh_from_db()
    assert document.title == "a"
    # The form now carries the current version: saving again is a deliberate second step.
    retry = bound_data(form_of(response))
    assert save(admin_client, document, retry).status_code == 302
    document.refresh_from_db()
    assert document.title == "mine"


def test_rule_45_object_deleted_while_editing_gives_a_message_and_is_not_recreated(
    admin_client: Client, editor: Client
) -> None:
    document = Document.objects.create(title="a")
    mine = open_form(admin_client, document)
    delete = editor.get(reverse("admin:testapp_document_delete", args=[document.pk]))
    editor.post(
        reverse("admin:testapp_document_delete", args=[document.pk]),
        {"post": "yes", VERSION_FIELD_NAME: delete.context[VERSION_FIELD_NAME]},
    )
    assert not Document.objects.exists()

    response = save(admin_client, document, mine, title="mine")

    assert response.status_code == 302
    assert response["Location"] == changelist_url(Document)
    [message] = messages_of(response)
    assert "was deleted by editor2" in message
    assert "not re-created" in message
    assert not Document.objects.exists()


def test_rule_44_a_write_that_loses_the_race_after_the_form_check_reports_a_conflict(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = Document.objects.create(title="a")
    data = open_form(admin_client, document)
    original = DocumentAdmin.save_model

    def racing_save(self: Any, request: Any, obj: Any, form: Any, change: Any) -> None:
        Document.objects.filter(pk=obj.pk).update(title="theirs")  # lands before our write
        original(self, request, obj, form, change)

    monkeypatch.setattr(DocumentAdmin, "save_model", racing_save)

    response = save(admin_client, document, data, title="mine")

    assert response.status_code == 200
    report = form_of(response).preconditions_conflict
    assert report.simultaneous
    assert form_of(response)["title"].value() == "mine"
    document.refresh_from_db()
    assert document.title != "mine"


def test_add_form_needs_no_version(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:testapp_document_add"))
    assert VERSION_FIELD_NAME not in response.content.decode()
    created = admin_client.post(
        reverse("admin:testapp_document_add"), {"title": "new", "body": "", "counter": "0"}
    )
    assert created.status_code == 302
    assert Document.objects.get().title == "new"


def test_view_only_users_see_no_version_field(admin_client: Client, django_user_model: Any) -> None:
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_document"))
    client = Client()
    client.force_login(viewer)
    document = Document.objects.create(title="a")
    response = client.get(change_url(document))
    assert response.status_code == 200
    assert VERSION_FIELD_NAME not in response.content.decode()


def test_versioned_model_admin_refuses_a_model_without_versions() -> None:
    with pytest.raises(ImproperlyConfigured, match="PlainCounter is not one"):
        VersionedModelAdmin(PlainCounter, admin.AdminSite(name="refusing"))


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_rule_44_admins_saving_one_version_at_the_same_moment_exactly_one_wins(
    django_user_model: Any,
) -> None:
    document = Document.objects.create(title="base")
    clients, forms_data = [], []
    for index in range(6):
        user = django_user_model.objects.create_superuser(f"racer{index}", password="pw")
        client = Client()
        client.force_login(user)
        clients.append(client)
        forms_data.append(open_form(client, document))
    statuses: list[int] = []

    def racer(index: int, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=30)
        time.sleep(random.uniform(0, 0.003))
        response = save(clients[index], document, forms_data[index], title=f"racer {index}")
        statuses.append(response.status_code)

    errors = run_in_threads(len(clients), racer)

    assert not errors
    assert sorted(statuses) == [200] * (len(clients) - 1) + [302]  # conflicts, never a 500
    document.refresh_from_db()
    assert document.title.startswith("racer ")
    assert LogEntry.objects.filter(action_flag=CHANGE).count() == 1


# --- list_editable ------------------------------------------------------------------------


def changelist_data(response: Any) -> dict[str, Any]:
    formset = response.context["cl"].formset
    data: dict[str, Any] = {"_save": "Save"}
    data.update(bound_data(formset.management_form))
    for form in formset.forms:
        data.update(bound_data(form))
    return data


def row_key(data: dict[str, Any], document: Document, field: str) -> str:
    for key, value in data.items():
        match = re.fullmatch(r"form-(\d+)-id", key)
        if match and value == str(document.pk):
            return f"form-{match.group(1)}-{field}"
    raise AssertionError(f"no row for {document}")


def test_list_editable_carries_a_version_per_row(admin_client: Client) -> None:
    first = Document.objects.create(title="one")
    second = Document.objects.create(title="two")
    response = admin_client.get(changelist_url(Document))
    data = changelist_data(response)
    for document in (first, second):
        signed = read_version(data[row_key(data, document, VERSION_FIELD_NAME)], Document)
        assert (signed.pk, signed.token) == (str(document.pk), document.version_token)
        assert f'value="{data[row_key(data, document, VERSION_FIELD_NAME)]}"' in (
            response.content.decode()
        )


def test_list_editable_stale_row_is_not_saved_and_the_input_is_kept(
    admin_client: Client, editor: Client
) -> None:
    first = Document.objects.create(title="one")
    second = Document.objects.create(title="two")
    data = changelist_data(admin_client.get(changelist_url(Document)))
    save(editor, first, open_form(editor, first), title="theirs")
    data[row_key(data, first, "title")] = "mine"
    data[row_key(data, second, "title")] = "two, edited"

    response = admin_client.post(changelist_url(Document), data)

    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.title, second.title) == ("theirs", "two")  # nothing saved
    forms_by_pk = {form.instance.pk: form for form in response.context["cl"].formset.forms}
    stale = forms_by_pk[first.pk]
    assert stale.preconditions_conflict.changed_by == "editor2"
    assert stale["title"].value() == "mine"
    assert "changed by editor2" in str(stale.non_field_errors())
    assert any("changed after this page was loaded" in m for m in messages_of(response))

    reapplied = admin_client.post(changelist_url(Document), changelist_data(response))

    assert reapplied.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.title, second.title) == ("mine", "two, edited")


def test_list_editable_row_changed_only_by_someone_else_is_neither_saved_nor_blocking(
    admin_client: Client, editor: Client
) -> None:
    first = Document.objects.create(title="one")
    second = Document.objects.create(title="two")
    data = changelist_data(admin_client.get(changelist_url(Document)))
    save(editor, second, open_form(editor, second), title="their title")
    data[row_key(data, first, "title")] = "mine"

    response = admin_client.post(changelist_url(Document), data)

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    # Plain Django would have written "two" back over the other editor's title.
    assert (first.title, second.title) == ("mine", "their title")


def test_list_editable_row_deleted_meanwhile_is_reported_not_recreated(
    admin_client: Client,
) -> None:
    first = Document.objects.create(title="one")
    data = changelist_data(admin_client.get(changelist_url(Document)))
    Document.objects.filter(pk=first.pk).delete()
    data[row_key(data, first, "title")] = "mine"

    response = admin_client.post(changelist_url(Document), data)

    assert response.status_code == 200
    assert any("had been deleted" in m for m in messages_of(response))
    assert not Document.objects.exists()


def test_list_editable_race_after_the_check_reports_the_row(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Document.objects.create(title="one")
    data = changelist_data(admin_client.get(changelist_url(Document)))
    data[row_key(data, first, "title")] = "mine"

    def losing_save(self: Any, request: Any, obj: Any, form: Any, change: Any) -> None:
        raise VersionConflict("lost", model=Document, pk=obj.pk)

    monkeypatch.setattr(DocumentAdmin, "save_model", losing_save)

    response = admin_client.post(changelist_url(Document), data)

    assert response.status_code == 200
    [form] = response.context["cl"].formset.forms
    assert form.preconditions_conflict.simultaneous


# --- Deletes ----------------------------------------------------------------------------------


def test_single_delete_of_the_confirmed_version_deletes(admin_client: Client) -> None:
    document = Document.objects.create(title="a")
    confirmation = admin_client.get(delete_url(document))
    token = confirmation.context[VERSION_FIELD_NAME]
    assert f'name="{VERSION_FIELD_NAME}" value="{token}"' in confirmation.content.decode()

    response = admin_client.post(delete_url(document), {"post": "yes", VERSION_FIELD_NAME: token})

    assert response.status_code == 302
    assert not Document.objects.exists()
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(document.pk)).exists()


def test_single_delete_of_a_changed_object_deletes_nothing_and_says_who_changed_it(
    admin_client: Client, editor: Client
) -> None:
    document = Document.objects.create(title="a")
    token = admin_client.get(delete_url(document)).context[VERSION_FIELD_NAME]
    save(editor, document, open_form(editor, document), title="theirs")

    response = admin_client.post(delete_url(document), {"post": "yes", VERSION_FIELD_NAME: token})

    assert response.status_code == 302
    assert response["Location"] == change_url(document)
    assert Document.objects.get().title == "theirs"
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()  # rolled back
    [message] = messages_of(response)
    assert "Nothing was deleted" in message
    assert "changed by editor2" in message


def test_single_delete_without_a_version_deletes_nothing(admin_client: Client) -> None:
    document = Document.objects.create(title="a")
    response = admin_client.post(delete_url(document), {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == delete_url(document)
    assert Document.objects.exists()
    assert "Confirm the deletion again" in messages_of(response)[0]


def test_rule_45_single_delete_racing_a_change_deletes_nothing(admin_client: Client) -> None:
    document = Document.objects.create(title="a")
    token = admin_client.get(delete_url(document)).context[VERSION_FIELD_NAME]
    original = DocumentAdmin.delete_model

    def change_first(self: Any, request: Any, obj: Any) -> None:
        Document.objects.filter(pk=obj.pk).update(title="theirs")  # just before our delete
        original(self, request, obj)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DocumentAdmin, "delete_model", change_first)
        response = admin_client.post(
            delete_url(document), {"post": "yes", VERSION_FIELD_NAME: token}
        )

    assert response.status_code == 302
    assert Document.objects.filter(pk=document.pk).exists()
    assert "Nothing was deleted" in messages_of(response)[0]


def test_rule_45_single_delete_racing_a_delete_says_it_is_already_gone(
    admin_client: Client,
) -> None:
    document = Document.objects.create(title="a")
    token = admin_client.get(delete_url(document)).context[VERSION_FIELD_NAME]
    raced: list[bool] = []
    original_queryset = DocumentAdmin.get_queryset

    def losing_delete(self: Any, request: Any, obj: Any) -> None:
        raced.append(True)  # another request deleted the row first
        raise VersionConflict("gone", model=Document, pk=obj.pk, reason="stale")

    def queryset(self: Any, request: Any) -> Any:
        rows = original_queryset(self, request)
        return rows.none() if raced else rows

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DocumentAdmin, "delete_model", losing_delete)
        patch.setattr(DocumentAdmin, "get_queryset", queryset)
        response = admin_client.post(
            delete_url(document), {"post": "yes", VERSION_FIELD_NAME: token}
        )

    assert response.status_code == 302
    assert response["Location"] == changelist_url(Document)
    assert "was already deleted" in messages_of(response)[0]


def bulk_delete(client: Client, model: Any, objects: list[Any], **extra: Any) -> Any:
    return client.post(
        changelist_url(model),
        {
            "action": "delete_selected",
            "_selected_action": [str(obj.pk) for obj in objects],
            **extra,
        },
    )


def test_bulk_delete_deletes_the_confirmed_versions_and_keeps_a_changed_row(
    admin_client: Client, editor: Client
) -> None:
    kept, changed, gone = (Document.objects.create(title=t) for t in ("one", "two", "three"))
    confirmation = bulk_delete(admin_client, Document, [kept, changed, gone])
    assert confirmation.status_code == 200
    versions = confirmation.context["preconditions_versions"]
    assert len(versions) == 3
    assert versions[0] in confirmation.content.decode()
    save(editor, changed, open_form(editor, changed), title="two, edited")
    Document.objects.filter(pk=gone.pk).delete()

    response = bulk_delete(
        admin_client, Document, [kept, changed, gone], post="yes", **{VERSION_FIELD_NAME: versions}
    )

    assert response.status_code == 302
    assert list(Document.objects.values_list("title", flat=True)) == ["two, edited"]
    messages = messages_of(response)
    assert "Successfully deleted 1 document." in messages
    assert any("Not deleted" in m and "“two, edited” (changed by editor2" in m for m in messages)
    assert any("Already deleted by someone else: 1 document" in m for m in messages)
    deletions = LogEntry.objects.filter(action_flag=DELETION)
    assert [entry.object_id for entry in deletions] == [str(kept.pk)]


def test_bulk_delete_without_versions_deletes_nothing(admin_client: Client) -> None:
    document = Document.objects.create(title="a")
    response = bulk_delete(admin_client, Document, [document], post="yes")
    assert response.status_code == 302
    assert Document.objects.exists()
    assert any("did not carry their version" in m for m in messages_of(response))


@pytest.mark.urls(__name__)
def test_bulk_delete_that_cascades_is_protected_too(admin_client: Client) -> None:
    folders = [Folder.objects.create(name=name) for name in ("a", "b")]
    for folder in folders:
        Entry.objects.create(folder=folder, text="x")
    url = reverse("plain_admin:testapp_folder_changelist")
    selected = {"action": "delete_selected", "_selected_action": [f.pk for f in folders]}
    versions = admin_client.post(url, selected).context["preconditions_versions"]
    folders[1].name = "renamed"
    folders[1].save()

    response = admin_client.post(url, {**selected, "post": "yes", VERSION_FIELD_NAME: versions})

    assert response.status_code == 302
    assert list(Folder.objects.values_list("name", flat=True)) == ["renamed"]
    assert Entry.objects.count() == 1


# --- Query counts -----------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_protection_costs_no_query_compared_with_a_plain_model_admin(
    admin_client: Client,
) -> None:
    document = Document.objects.create(title="a")
    admin_client.get(change_url(document))  # warm caches (content types, session)

    def count(url: str, data: dict[str, Any] | None = None) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.post(url, data) if data else admin_client.get(url)
        assert response.status_code in (200, 302)
        return len(queries)

    versioned_url = change_url(document)
    plain_url = reverse("plain_admin:testapp_document_change", args=[document.pk])
    assert count(versioned_url) == count(plain_url)
    versioned_data = {**open_form(admin_client, document), "title": "b"}
    plain_data = {key: value for key, value in versioned_data.items() if key != VERSION_FIELD_NAME}
    plain_write = count(plain_url, {**plain_data, "title": "c"})
    versioned_data = {**open_form(admin_client, document), "title": "d"}
    assert count(versioned_url, versioned_data) == plain_write


# --- ProtectedEndpointAdmin -----------------------------------------------------------------


RULE_ADD_URL = "/admin/django_preconditions/protectedendpoint/add/"


def rule_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "view": "document-plain",
        "methods": ["PUT", "DELETE"],
        "required_headers": ["If-Match"],
        "allow_wildcard": "unknown",
        "error_format": "",
        "model_label": "testapp.Document",
        "lookup_url_kwarg": "pk",
        "lookup_field": "pk",
        "enabled": "on",
        "note": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_rule_form_shows_route_patterns_and_labels_as_written(admin_client: Client) -> None:
    """The admin renders help text as HTML: ``<int:pk>`` must reach the page escaped."""
    html = admin_client.get(RULE_ADD_URL).content.decode()
    assert "route pattern (e.g. notes/&lt;int:pk&gt;/)" in html
    assert "notes//" not in html
    assert "Lookup URL kwarg" in html
    assert "Lookup url kwarg" not in html


def test_rule_changelist_links_to_the_protection_audit(admin_client: Client) -> None:
    ProtectedEndpoint.objects.create(view="document-plain")
    response = admin_client.get(changelist_url(ProtectedEndpoint))
    audit_url = reverse("admin:django_preconditions_protectedendpoint_audit")
    assert audit_url == "/admin/django_preconditions/protectedendpoint/audit/"
    content = response.content.decode()
    assert f'href="{audit_url}"' in content
    assert "document-plain" in content


def test_audit_page_opens_from_the_rule_admin(admin_client: Client, client: Client) -> None:
    audit_url = reverse("admin:django_preconditions_protectedendpoint_audit")
    assert admin_client.get(audit_url).status_code == 200
    assert client.get(audit_url).status_code == 302  # to the admin login


def test_view_dropdown_offers_the_projects_url_names_but_not_the_admins(
    admin_client: Client,
) -> None:
    response = admin_client.get(RULE_ADD_URL)
    content = response.content.decode()
    datalist = re.search(r'<datalist id="id_view_options">(.*?)</datalist>', content, re.S)
    assert datalist is not None
    values = re.findall(r'<option value="([^"]+)">', datalist.group(1))
    assert {"document-detail", "document-plain", "cbv-update", "api:document-detail"} <= set(values)
    assert not [value for value in values if value.startswith("admin:") or "admin" in value]
    assert 'list="id_view_options"' in content
    assert "/docs/&lt;int:pk&gt;/ → tests.testapp.views.document_detail" in content


def test_model_dropdown_offers_installed_versioned_models_only(admin_client: Client) -> None:
    form = form_of(admin_client.get(RULE_ADD_URL))
    choices = dict(form.fields["model_label"].choices)
    assert {"", "testapp.Document", "testapp.Folder"} <= set(choices)
    assert "testapp.PlainCounter" not in choices
    assert isinstance(form.fields["methods"].widget, forms.CheckboxSelectMultiple)
    assert [key for key, _ in form.fields["methods"].choices] == ["POST", "PUT", "PATCH", "DELETE"]
    assert [key for key, _ in form.fields["allow_wildcard"].widget.choices] == [
        "unknown",
        "true",
        "false",
    ]


def test_rule_30_rule_created_in_the_admin_is_stored_comma_separated(
    admin_client: Client,
) -> None:
    response = admin_client.post(RULE_ADD_URL, rule_data(allow_wildcard="false"))
    assert response.status_code == 302, form_of(response).errors
    rule = ProtectedEndpoint.objects.get()
    assert (rule.methods, rule.required_headers, rule.allow_wildcard) == (
        "PUT,DELETE",
        "If-Match",
        False,
    )
    assert rule.as_rule()["methods"] == ("PUT", "DELETE")
    change = form_of(admin_client.get(change_url(rule)))
    assert change["methods"].value() == ["PUT", "DELETE"]
    assert 'value="DELETE" id="id_methods_3" checked' in str(change["methods"])


@pytest.mark.parametrize(
    "view",
    [
        "tests.testapp.views.plain_document_detail",
        "plain/docs/<int:pk>/",
        "plain/counters/<int:pk>/",
    ],
)
def test_rule_view_accepts_a_dotted_path_or_a_route_typed_in(
    admin_client: Client, view: str
) -> None:
    response = admin_client.post(RULE_ADD_URL, rule_data(view=view))
    assert response.status_code == 302, form_of(response).errors
    assert ProtectedEndpoint.objects.get().view == view


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"view": "no-such-name"}, "view", "matches no URL pattern of this project"),
        ({"view": "docs/<int:pk/"}, "view", "Did you mean 'docs/<int:pk>/'"),
        ({"view": "tests.testapp.views.nothing_here"}, "view", "matches no URL pattern"),
        ({"error_format": "tests.nowhere.render"}, "error_format", "Select a valid choice"),
        # Issue 10, item 3: every field that could weaken protection is refused.
        ({"error_format": "django.http.HttpResponse"}, "error_format", "Select a valid choice"),
        ({"allow_wildcard": "true"}, "allow_wildcard", "can only add protection"),
        ({"lookup_field": "title"}, "lookup_field", "is not a unique field of testapp.Document"),
        ({"lookup_field": "nonexistent"}, "lookup_field", "Use pk or one of: id"),
        ({"lookup_url_kwarg": "id"}, "lookup_url_kwarg", "has no URL keyword argument 'id'"),
        ({"lookup_url_kwarg": ""}, "lookup_url_kwarg", "Give both a model and its URL keyword"),
        ({"model_label": ""}, "model_label", "Give both a model and its URL keyword"),
        ({"model_label": "testapp.PlainCounter"}, "model_label", "Select a valid choice"),
        ({"methods": None}, "methods", "This field is required"),
        ({"required_headers": None}, "required_headers", "This field is required"),
        ({"methods": ["GET"]}, "methods", "Select a valid choice"),
    ],
)
def test_rule_validation_names_the_field_and_the_fix(
    admin_client: Client, changes: dict[str, Any], field: str, message: str
) -> None:
    response = admin_client.post(RULE_ADD_URL, rule_data(**changes))
    assert response.status_code == 200
    errors = form_of(response).errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not ProtectedEndpoint.objects.exists()


@pytest.mark.parametrize("view", ["x" * 300, "document-\x00plain"])
def test_a_view_its_field_refuses_gets_that_error_alone(admin_client: Client, view: str) -> None:
    """Too long, or a NUL: the field's own error, not also "'' matches no URL pattern"."""
    response = admin_client.post(RULE_ADD_URL, rule_data(view=view))
    assert response.status_code == 200
    errors = " ".join(form_of(response).errors["view"])
    assert errors
    assert "matches no URL pattern" not in errors
    assert not ProtectedEndpoint.objects.exists()


def test_rule_for_a_view_that_already_has_one_is_refused(admin_client: Client) -> None:
    ProtectedEndpoint.objects.create(view="document-plain")
    response = admin_client.post(RULE_ADD_URL, rule_data())
    assert "already exists" in " ".join(form_of(response).errors["view"])


def test_rule_changelist_search_and_filters(admin_client: Client) -> None:
    ProtectedEndpoint.objects.create(view="document-plain", note="billing")
    ProtectedEndpoint.objects.create(view="document-detail", enabled=False)
    url = changelist_url(ProtectedEndpoint)

    def listed(query: str) -> list[str]:
        response = admin_client.get(f"{url}?{query}")
        return [rule.view for rule in response.context["cl"].result_list]

    assert listed("q=billing") == ["document-plain"]
    assert listed("enabled__exact=0") == ["document-detail"]
    assert listed("") == ["document-detail", "document-plain"]


def put(client: Client, document: Document) -> int:
    response = client.put(
        f"/plain/docs/{document.pk}/", {"title": "x"}, content_type="application/json"
    )
    return int(response.status_code)


@override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"RULES_REFRESH_INTERVAL": 3600})
def test_rule_30_enable_and_disable_actions_take_effect_at_once(
    admin_client: Client, client: Client
) -> None:
    document = Document.objects.create(title="a")
    rule = ProtectedEndpoint.objects.create(view="document-plain", methods="PUT")
    version = rule.version_token
    assert put(client, document) == 428  # the rules are cached now
    action = {"_selected_action": [rule.pk], "index": "0"}

    response = admin_client.post(
        changelist_url(ProtectedEndpoint), {**action, "action": "disable_rules"}
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.enabled
    assert rule.version_token != version
    assert put(client, document) == 200  # no waiting for the refresh interval
    assert LogEntry.objects.filter(action_flag=CHANGE, object_id=str(rule.pk)).exists()

    enabled = admin_client.post(
        changelist_url(ProtectedEndpoint), {**action, "action": "enable_rules"}
    )

    assert put(client, document) == 428
    assert "1 rule(s) enabled" in messages_of(enabled)[-1]


def test_two_admins_editing_one_rule_cannot_overwrite_each_other(
    admin_client: Client, editor: Client
) -> None:
    rule = ProtectedEndpoint.objects.create(view="document-plain", methods="PUT")
    mine = open_form(admin_client, rule)
    assert save(editor, rule, open_form(editor, rule), methods=["PUT", "PATCH"]).status_code == 302

    response = save(admin_client, rule, mine, methods=["DELETE"], note="mine")

    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.methods, rule.note) == ("PUT,PATCH", "")
    report = form_of(response).preconditions_conflict
    assert [(item.label, item.current) for item in report.differences] == [("Methods", "PUT,PATCH")]
    assert form_of(response)["methods"].value() == ["DELETE"]


# --- One view, rules under several keys: they add up, and the form allows one ---------------

PLAIN_ROUTE = "plain/docs/<int:pk>/"
PLAIN_PATH = "tests.testapp.views.plain_document_detail"


@pytest.fixture
def adder(django_user_model: Any) -> Client:
    """Staff who may add and view rules, but neither change nor delete them."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("adder", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_protectedendpoint", "view_protectedendpoint"])
    )
    client = Client()
    client.force_login(user)
    return client


def test_rule_30_a_second_enabled_rule_for_a_view_under_another_key_is_refused(
    adder: Client,
) -> None:
    ProtectedEndpoint.objects.create(
        view=PLAIN_ROUTE, model_label="testapp.Document", lookup_url_kwarg="pk"
    )

    response = adder.post(RULE_ADD_URL, rule_data(methods=["POST"], model_label=""))

    assert response.status_code == 200
    message = " ".join(form_of(response).errors["view"])
    assert repr(PLAIN_ROUTE) in message
    assert "Edit that rule instead" in message
    assert "matches no URL pattern" not in message  # the model checked the view as typed
    assert ProtectedEndpoint.objects.count() == 1


def test_rule_30_a_disabled_rule_for_an_already_protected_view_may_be_added(
    adder: Client,
) -> None:
    ProtectedEndpoint.objects.create(view=PLAIN_ROUTE)

    response = adder.post(RULE_ADD_URL, rule_data(enabled=None))

    assert response.status_code == 302
    assert ProtectedEndpoint.objects.filter(view="document-plain", enabled=False).exists()


def test_rule_30_enabling_a_second_rule_for_a_view_in_its_form_is_refused(
    admin_client: Client,
) -> None:
    ProtectedEndpoint.objects.create(view=PLAIN_PATH)
    second = ProtectedEndpoint.objects.create(view="document-plain", enabled=False)

    response = save(admin_client, second, open_form(admin_client, second), enabled="on")

    assert response.status_code == 200
    assert repr(PLAIN_PATH) in " ".join(form_of(response).errors["view"])
    second.refresh_from_db()
    assert not second.enabled


def assert_unconditional_put_refused(client: Client, document: Document) -> None:
    """A PUT without a precondition to the plain view: 428, the row unchanged."""
    response = client.put(
        f"/plain/docs/{document.pk}/", {"title": "x"}, content_type="application/json"
    )
    assert response.status_code == 428
    assert Document.objects.get(pk=document.pk).title == "a"


@override_settings(MIDDLEWARE=MIDDLEWARE)
def test_rule_30_a_second_rule_under_another_key_cannot_unprotect_a_method(
    client: Client,
) -> None:
    """Rules saved around the form (or before it checked) add up: methods are the union."""
    document = Document.objects.create(title="a")
    ProtectedEndpoint.objects.create(
        view=PLAIN_ROUTE, model_label="testapp.Document", lookup_url_kwarg="pk"
    )
    ProtectedEndpoint.objects.create(view="document-plain", methods="POST")

    assert_unconditional_put_refused(client, document)


@override_settings(MIDDLEWARE=MIDDLEWARE)
def test_rule_30_a_second_rule_under_another_key_cannot_switch_an_enforced_view_to_report(
    client: Client,
) -> None:
    document = Document.objects.create(title="a")
    target = {"model_label": "testapp.Document", "lookup_url_kwarg": "pk"}
    ProtectedEndpoint.objects.create(view=PLAIN_PATH, mode="enforce", **target)
    ProtectedEndpoint.objects.create(view="document-plain", mode="report", **target)

    assert_unconditional_put_refused(client, document)


@override_settings(MIDDLEWARE=MIDDLEWARE)
def test_rule_30_rules_under_several_keys_accept_only_the_headers_all_of_them_accept(
    client: Client,
) -> None:
    document = Document.objects.create(title="a")
    target = {"model_label": "testapp.Document", "lookup_url_kwarg": "pk"}
    ProtectedEndpoint.objects.create(view=PLAIN_ROUTE, required_headers="If-Match", **target)
    ProtectedEndpoint.objects.create(
        view="document-plain", required_headers="If-Match,If-Unmodified-Since", **target
    )
    url = f"/plain/docs/{document.pk}/"

    by_date = client.put(
        url,
        {"title": "x"},
        content_type="application/json",
        headers={"If-Unmodified-Since": document.last_modified_http},
    )
    by_etag = client.put(
        url, {"title": "y"}, content_type="application/json", headers={"If-Match": document.etag}
    )

    assert by_date.status_code == 428
    assert by_etag.status_code == 200
    assert Document.objects.get(pk=document.pk).title == "y"
