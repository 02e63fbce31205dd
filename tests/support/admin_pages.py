"""Driving the admin's change, changelist and delete pages as a browser would."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse


def change_url(obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def changelist_url(model: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def bound_data(form: forms.BaseForm) -> dict[str, Any]:
    """What a browser would post for ``form`` as rendered."""
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if isinstance(bound.field.widget, forms.CheckboxInput):
            if value:
                data[bound.html_name] = "on"
        elif isinstance(value, (list, tuple)):
            data[bound.html_name] = [str(item) for item in value]
        else:
            data[bound.html_name] = "" if value is None else str(value)
    return data


def open_form(client: Client, obj: Any) -> dict[str, Any]:
    response = client.get(change_url(obj))
    assert response.status_code == 200
    return bound_data(response.context["adminform"].form)


def save(client: Client, obj: Any, data: dict[str, Any], **changes: Any) -> Any:
    return client.post(change_url(obj), {**data, **changes})


def form_of(response: Any) -> Any:
    return response.context["adminform"].form


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def delete_url(obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])
