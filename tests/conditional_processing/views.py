"""Django's own tests/conditional_processing views, decorated with our drop-ins."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse

from django_preconditions.decorators import condition, etag, last_modified

FULL_RESPONSE = "Test conditional get response"
LAST_MODIFIED = datetime(2007, 10, 21, 23, 21, 47)
LAST_MODIFIED_STR = "Sun, 21 Oct 2007 23:21:47 GMT"
LAST_MODIFIED_NEWER_STR = "Mon, 18 Oct 2010 16:56:23 GMT"
LAST_MODIFIED_INVALID_STR = "Mon, 32 Oct 2010 16:56:23 GMT"
EXPIRED_LAST_MODIFIED_STR = "Sat, 20 Oct 2007 23:21:47 GMT"
ETAG = '"b4246ffc4f62314ca13147c9d4f76974"'
WEAK_ETAG = 'W/"b4246ffc4f62314ca13147c9d4f76974"'  # weak match to ETAG
EXPIRED_ETAG = '"7fae4cd4b0f81e7d2914700043aa8ed6"'


@condition(lambda r: ETAG, lambda r: LAST_MODIFIED)
def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@condition(last_modified_func=lambda r: LAST_MODIFIED)
def last_modified_view1(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@last_modified(lambda r: LAST_MODIFIED)
def last_modified_view2(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@condition(etag_func=lambda r: ETAG)
def etag_view1(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@etag(lambda r: ETAG)
def etag_view2(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@condition(etag_func=lambda r: ETAG.strip('"'))
def etag_view_unquoted(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@condition(etag_func=lambda r: WEAK_ETAG)
def etag_view_weak(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@condition(etag_func=lambda r: None)
def etag_view_none(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)


@condition(lambda r: ETAG, lambda r: LAST_MODIFIED)
async def async_index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(FULL_RESPONSE)
