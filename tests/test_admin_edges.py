"""Admin write paths beyond the change form (a hostile round found them): a changelist action
is run once, never again after a conflict; "delete selected" goes through the ModelAdmin's
own ``delete_queryset()`` (a soft delete) with the confirmed version; re-applying a conflict
keeps the other editor's change to a long field; the signed version never carries a value the
form hides; the rules' "enable" action keeps one enabled rule per view."""

from __future__ import annotations

import re
import zlib
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.core import signing
from django.test import Client
from django.urls import path, reverse

from django_preconditions.admin import VERSION_FIELD_NAME, VersionedModelAdmin
from django_preconditions.models import ProtectedEndpoint
from tests.support.admin_pages import bound_data, change_url, open_form, save
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db


class IncrementingAdmin(VersionedModelAdmin):
    list_display = ("id", "title", "counter")
    list_display_links = ("id",)
    list_editable = ("title",)
    actions = ("increment",)

    @admin.action(description="Increment the counter")
    def increment(self, request: Any, queryset: Any) -> None:
        for obj in queryset.order_by("pk"):
            obj.counter += 1
            obj.save()


class SoftDeleteAdmin(VersionedModelAdmin):
    def delete_queryset(self, request: Any, queryset: Any) -> None:  # Django's bulk-delete hook
        for obj in queryset:
            obj.title = f"[archived] {obj.title}"
            obj.save()


class SecretForm(forms.ModelForm):  # type: ignore[type-arg]
    body = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)

    class Meta:
        model = Document
        fields = ("title", "body")


class SecretAdmin(VersionedModelAdmin):
    form = SecretForm
    fields = ("title", "body")


sites = {}
for name, cls in [("inc", IncrementingAdmin), ("soft", SoftDeleteAdmin), ("secret", SecretAdmin)]:
    sites[name] = admin.AdminSite(name=f"{name}_admin")
    sites[name].register(Document, cls)
urlpatterns = [path("admin/", admin.site.urls)] + [
    path(f"{name}-admin/", site.urls) for name, site in sites.items()
]
RULES_URL = reverse("admin:django_preconditions_protectedendpoint_changelist")


@pytest.fixture
def editor(django_user_model: Any) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("editor2", password="pw"))
    return client


def changelist_data(response: Any) -> dict[str, Any]:
    formset = response.context["cl"].formset
    data = bound_data(formset.management_form)
    for form in formset.forms:
        data.update(bound_data(form))
    return data


@pytest.mark.urls(__name__)
def test_a_changelist_action_is_never_applied_twice_to_a_row(admin_client: Client) -> None:
    first, second = Document.objects.create(title="one"), Document.objects.create(title="two")
    url = reverse("inc_admin:testapp_document_changelist")
    page = changelist_data(admin_client.get(url))  # the action form posts the row versions too
    Document.objects.get(pk=second.pk).save()  # someone edits row 2 after the page loaded
    admin_client.post(
        url,
        {**page, "action": "increment", "index": "0", "_selected_action": [first.pk, second.pk]},
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.counter == 1, f"one click incremented row 1 {first.counter} times"
    assert second.counter == 1  # the action reads the rows it changes: applied once to each


@pytest.mark.urls(__name__)
def test_delete_selected_goes_through_the_admins_delete_queryset(admin_client: Client) -> None:
    document = Document.objects.create(title="keep me")
    url = reverse("soft_admin:testapp_document_changelist")
    selected = {"action": "delete_selected", "_selected_action": [document.pk]}
    versions = admin_client.post(url, selected).context["preconditions_versions"]
    admin_client.post(url, {**selected, "post": "yes", VERSION_FIELD_NAME: versions})
    assert Document.objects.get(pk=document.pk).title == "[archived] keep me"  # as Django would


@pytest.mark.urls(__name__)
def test_delete_queryset_is_not_given_a_row_changed_after_the_confirmation(
    admin_client: Client,
) -> None:
    document = Document.objects.create(title="keep me")
    url = reverse("soft_admin:testapp_document_changelist")
    selected = {"action": "delete_selected", "_selected_action": [document.pk]}
    versions = admin_client.post(url, selected).context["preconditions_versions"]
    Document.objects.filter(pk=document.pk).update(title="edited meanwhile")
    response = admin_client.post(
        url, {**selected, "post": "yes", VERSION_FIELD_NAME: versions}, follow=True
    )
    assert Document.objects.get(pk=document.pk).title == "edited meanwhile"
    assert "changed after the confirmation page" in response.content.decode()


def test_a_long_field_only_the_other_editor_changed_survives_reapply(
    admin_client: Client, editor: Client
) -> None:
    # Long (kept as a digest in the signed version); no trailing space, which any Django form
    # strips on save.
    old_body = ("old paragraph. " * 100).strip()
    their_body = ("their rewritten paragraph. " * 100).strip()
    document = Document.objects.create(title="base", body=old_body)
    mine = open_form(admin_client, document)
    save(editor, document, open_form(editor, document), body=their_body)
    conflict = save(admin_client, document, mine, title="mine")  # I only edited the title
    form = conflict.context["adminform"].form
    admin_client.post(change_url(document), bound_data(form))  # "Apply my changes ..."
    document.refresh_from_db()
    assert (document.title, document.body) == ("mine", their_body)


@pytest.mark.urls(__name__)
def test_the_version_field_does_not_reveal_a_value_the_form_hides(
    admin_client: Client,
) -> None:
    document = Document.objects.create(title="a", body="s3cr3t-api-key")
    html = admin_client.get(
        reverse("secret_admin:testapp_document_change", args=[document.pk])
    ).content.decode()
    assert "s3cr3t-api-key" not in html  # the PasswordInput does not render it...
    found = re.search(rf'name="{VERSION_FIELD_NAME}" value="([^"]+)"', html)
    assert found is not None
    raw = found.group(1)
    payload = zlib.decompress(signing.b64_decode(raw.split(":")[0].lstrip(".").encode()))
    assert b"s3cr3t-api-key" not in payload  # ...but anyone can unzip the hidden field


def test_the_enable_action_cannot_make_a_second_enabled_rule_for_a_view(
    admin_client: Client,
) -> None:
    first = ProtectedEndpoint.objects.create(view="tests.testapp.views.plain_document_detail")
    second = ProtectedEndpoint.objects.create(view="document-plain", enabled=False)
    admin_client.post(
        RULES_URL, {"action": "enable_rules", "index": "0", "_selected_action": [second.pk]}
    )
    assert list(ProtectedEndpoint.objects.filter(enabled=True)) == [first]
