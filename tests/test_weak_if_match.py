"""Rule 10: a strong ETag weakened by GZipMiddleware still works for If-Match by default."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

WITH_GZIP = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]


def gzip_round_trip(client, document: Document):  # type: ignore[no-untyped-def]
    read = client.get(f"/reuse/docs/{document.pk}/", headers={"Accept-Encoding": "gzip"})
    assert read["Content-Encoding"] == "gzip"
    assert read["ETag"] == f'W/"{document.version_token}"'  # GZipMiddleware weakened it
    return client.put(
        f"/reuse/docs/{document.pk}/",
        {"title": "edited after gzip"},
        content_type="application/json",
        headers={"If-Match": read["ETag"], "Accept-Encoding": "gzip"},
    )


@override_settings(MIDDLEWARE=WITH_GZIP)
def test_rule_10_get_put_round_trip_through_gzip_succeeds_by_default(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", body="compressible " * 100)
    response = gzip_round_trip(client, document)
    assert response.status_code == 200
    assert Document.objects.get(pk=document.pk).title == "edited after gzip"


@override_settings(MIDDLEWARE=WITH_GZIP, PRECONDITIONS={"WEAK_IF_MATCH": False})
def test_rule_10_strict_setting_applies_strong_comparison(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a", body="compressible " * 100)
    response = gzip_round_trip(client, document)
    assert response.status_code == 412
    assert Document.objects.get(pk=document.pk).title == "a"


def test_rule_10_weak_tag_of_an_older_version_still_fails(client) -> None:  # type: ignore[no-untyped-def]
    document = Document.objects.create(title="a")
    old = document.version_token
    document.save()
    response = client.put(
        f"/reuse/docs/{document.pk}/",
        {"title": "b"},
        content_type="application/json",
        headers={"If-Match": f'W/"{old}"'},
    )
    assert response.status_code == 412
