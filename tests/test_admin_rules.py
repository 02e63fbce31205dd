"""Admin hardening (issue 10, items 4 to 6): signed versions say what they are for, the delete
view checks the object it deletes whatever ``_to_field`` says, the rule form starts from the
model's default rule, and the rule list says when this process last read the rules."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections
from django.db.models.signals import post_save
from django.test import Client, override_settings
from django.urls import reverse

from django_preconditions import rules
from django_preconditions.admin import VERSION_FIELD_NAME
from django_preconditions.models import ProtectedEndpoint
from django_preconditions.rules import reload_rules
from tests.support.admin_pages import change_url, delete_url, form_of, open_form, save
from tests.support.middleware import MIDDLEWARE
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


# --- A saved rule applies at once in this process, whatever other threads read meanwhile ------


def _unconditional_put(client: Client, document: Document) -> int:
    response = client.put(
        f"/plain/docs/{document.pk}/", {"title": "x"}, content_type="application/json"
    )
    return int(response.status_code)


@pytest.mark.django_db(transaction=True)
def test_a_rule_saved_in_the_admin_applies_at_once_although_a_thread_read_before_the_commit(
    admin_client: Client,
) -> None:
    """Rule 30, docs/views.md "at once after it saved a rule itself": another thread that
    reads the rules between the rule's save and its commit sees the old rows; they must not be
    kept as fresh for RULES_REFRESH_INTERVAL."""
    document = Document.objects.create(title="a")
    seen: list[int] = []

    def request_from_another_thread() -> None:
        try:
            seen.append(Client().get(f"/plain/docs/{document.pk}/").status_code)
        finally:
            connections.close_all()

    def while_saving(**kwargs: Any) -> None:  # after the save, before the commit
        thread = threading.Thread(target=request_from_another_thread)
        thread.start()
        thread.join()

    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"RULES_REFRESH_INTERVAL": 3600}):
        assert _unconditional_put(admin_client, document) == 200  # "no rule" is cached
        post_save.connect(while_saving, sender=ProtectedEndpoint, dispatch_uid="rule-race")
        try:
            response = admin_client.post(
                RULE_ADD_URL,
                {
                    "view": "document-plain",
                    "methods": ["PUT"],
                    "required_headers": ["If-Match"],
                    "allow_wildcard": "unknown",
                    "model_label": "testapp.Document",
                    "lookup_url_kwarg": "pk",
                    "lookup_field": "pk",
                    "enabled": "on",
                },
            )
        finally:
            post_save.disconnect(sender=ProtectedEndpoint, dispatch_uid="rule-race")
        assert response.status_code == 302
        assert seen == [200]  # the other thread read the rules before the commit

        assert _unconditional_put(admin_client, document) == 428


def test_rules_read_while_a_rule_was_saved_are_not_kept(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that started before an invalidation and ended after it may hold the rows from
    before the change: it serves its own request, and the next request reads again."""
    document = Document.objects.create(title="a")
    read = rules._read
    saved: list[ProtectedEndpoint] = []

    def read_then_a_rule_is_saved(model: Any, alias: str) -> Any:
        rows = read(model, alias)
        if not saved:  # meanwhile, another thread saves a rule
            saved.append(
                ProtectedEndpoint.objects.create(
                    view="document-plain", model_label="testapp.Document", lookup_url_kwarg="pk"
                )
            )
        return rows

    monkeypatch.setattr(rules, "_read", read_then_a_rule_is_saved)
    with override_settings(MIDDLEWARE=MIDDLEWARE, PRECONDITIONS={"RULES_REFRESH_INTERVAL": 3600}):
        _unconditional_put(client, document)  # its read began before the rule existed
        assert _unconditional_put(client, document) == 428
