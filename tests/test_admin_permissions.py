"""The admin's version checks never answer before Django's permission checks, and never
speak about another row than the one addressed: a staff user who may not delete a row gets
Django's 403 whatever version he posts (an answer about the version told him the row exists:
rules 12, 13); a version of another row says nothing about the one in the URL; a row "delete
selected" deleted is never reported as deleted by someone else."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from django_preconditions.admin import VERSION_FIELD_NAME
from django_preconditions.admin.signing import DELETE, sign_version
from django_preconditions.models import ProtectedEndpoint
from tests.support.admin_pages import changelist_url, delete_url, messages_of, open_form
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db


def _staff(django_user_model: Any, name: str, *codenames: str) -> Client:
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("codenames", [("view_document",), ()], ids=["view-only", "none"])
@pytest.mark.parametrize("version", [None, "garbage", "valid"])
def test_a_user_who_may_not_delete_gets_403_whatever_version_he_posts(
    django_user_model: Any, codenames: tuple[str, ...], version: str | None
) -> None:
    user = _staff(django_user_model, "user", *codenames)
    document = Document.objects.create(title="a")
    data = {"post": "yes"}
    if version is not None:
        data[VERSION_FIELD_NAME] = (
            sign_version(document, purpose=DELETE) if version == "valid" else version
        )
    existing = user.post(delete_url(document), data)
    missing = user.post(f"/admin/testapp/document/{document.pk + 1000}/delete/", data)
    assert (existing.status_code, missing.status_code) == (403, 403), messages_of(existing)
    assert Document.objects.filter(pk=document.pk).exists()


def test_a_user_without_permission_on_rules_gets_403_on_their_delete_page(
    django_user_model: Any,
) -> None:
    user = _staff(django_user_model, "docs", "view_document", "change_document", "delete_document")
    rule = ProtectedEndpoint.objects.create(view="document-plain", methods="PUT")
    assert user.post(delete_url(rule), {"post": "yes"}).status_code == 403
    assert ProtectedEndpoint.objects.filter(pk=rule.pk).exists()


def test_a_change_form_posted_to_a_missing_row_with_another_rows_version(
    admin_client: Client,
) -> None:
    """Django's "doesn't exist" answer: the message that the row was deleted while being
    edited named the other row (which exists, unchanged)."""
    document = Document.objects.create(title="base")
    data = open_form(admin_client, document)
    response = admin_client.post(f"/admin/testapp/document/{document.pk + 500}/change/", data)
    messages = messages_of(response)
    assert not any("while you were editing" in message for message in messages), messages
    assert any("Perhaps it was deleted?" in message for message in messages), messages
    assert Document.objects.get(pk=document.pk).title == "base"


def test_a_row_delete_selected_deleted_is_not_reported_gone(admin_client: Client) -> None:
    """The selected key spelled otherwise than ``str(pk)`` (``01``)."""
    document = Document.objects.create(title="one")
    response = admin_client.post(
        changelist_url(Document),
        {
            "action": "delete_selected",
            "_selected_action": [f"0{document.pk}"],
            "post": "yes",
            VERSION_FIELD_NAME: [sign_version(document, purpose=DELETE)],
        },
    )
    messages = messages_of(response)
    assert response.status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists(), messages
    assert not any("someone else" in message for message in messages), messages
