"""Admin hardening (issue 10, items 4 to 6): signed versions say what they are for, the delete
view checks the object it deletes whatever ``_to_field`` says, the rule form starts from the
model's default rule, and the rule list says when this process last read the rules."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from django_preconditions.admin import VERSION_FIELD_NAME
from django_preconditions.models import ProtectedEndpoint
from django_preconditions.rules import reload_rules
from tests.support.admin_pages import change_url, delete_url, form_of, open_form, save
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

RULE_ADD_URL = reverse("admin:django_preconditions_protectedendpoint_add")


def test_delete_with_to_field_checks_the_version_of_the_object_it_deletes(
    admin_client: Client,
) -> None:
    a = Document.objects.create(title="a")
    b = Document.objects.create(title="b")
    a_token = admin_client.get(delete_url(a)).context[VERSION_FIELD_NAME]
    response = admin_client.post(
        f"{delete_url(b)}?_to_field=id", {"post": "yes", VERSION_FIELD_NAME: a_token}
    )
    assert response.status_code == 302
    assert Document.objects.filter(pk=b.pk).exists()
    assert Document.objects.filter(pk=a.pk).exists()


def test_delete_with_to_field_and_its_own_current_version_deletes(admin_client: Client) -> None:
    b = Document.objects.create(title="b")
    token = admin_client.get(f"{delete_url(b)}?_to_field=id").context[VERSION_FIELD_NAME]
    response = admin_client.post(
        f"{delete_url(b)}?_to_field=id", {"post": "yes", VERSION_FIELD_NAME: token}
    )
    assert response.status_code == 302
    assert not Document.objects.filter(pk=b.pk).exists()


def test_delete_with_to_field_and_a_stale_version_deletes_nothing(admin_client: Client) -> None:
    b = Document.objects.create(title="b")
    token = admin_client.get(delete_url(b)).context[VERSION_FIELD_NAME]
    Document.objects.get(pk=b.pk).save()
    admin_client.post(f"{delete_url(b)}?_to_field=id", {"post": "yes", VERSION_FIELD_NAME: token})
    assert Document.objects.filter(pk=b.pk).exists()


def test_the_change_form_refuses_a_delete_pages_version(admin_client: Client) -> None:
    document = Document.objects.create(title="a")
    data = open_form(admin_client, document)
    delete_token = admin_client.get(delete_url(document)).context[VERSION_FIELD_NAME]
    Document.objects.filter(pk=document.pk).update(title="theirs")  # someone else's change
    response = save(
        admin_client, document, data, title="mine", **{VERSION_FIELD_NAME: delete_token}
    )
    assert response.status_code == 200
    assert "made for another page" in str(form_of(response).non_field_errors())
    assert Document.objects.get(pk=document.pk).title == "theirs"


def test_the_delete_page_refuses_a_change_forms_version(admin_client: Client) -> None:
    document = Document.objects.create(title="a")
    change_token = open_form(admin_client, document)[VERSION_FIELD_NAME]
    response = admin_client.post(
        delete_url(document), {"post": "yes", VERSION_FIELD_NAME: change_token}
    )
    assert response.status_code == 302
    assert Document.objects.filter(pk=document.pk).exists()


def test_item_6_the_add_form_starts_with_the_models_default_rule(admin_client: Client) -> None:
    form = form_of(admin_client.get(RULE_ADD_URL))
    default = ProtectedEndpoint()
    assert form["methods"].value() == default.methods.split(",")
    assert form["required_headers"].value() == default.required_headers.split(",")


def test_item_5_the_rule_list_says_when_this_process_last_read_the_rules(
    admin_client: Client,
) -> None:
    reload_rules()
    url = reverse("admin:django_preconditions_protectedendpoint_changelist")
    content = admin_client.get(url).content.decode()
    assert "This process last read the rules at" in content


def test_change_url_helper_is_the_admin_change_page() -> None:
    document = Document(pk=1)
    assert change_url(document).endswith("/testapp/document/1/change/")
