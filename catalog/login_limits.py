"""The login limits shared by the login form and /api/token/ (django-axes lockout, DRF throttles)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str:
    """The client's address as DRF's throttles read it (NUM_PROXIES), so both count the same client."""
    return BaseThrottle().get_ident(request)


def lockout_message() -> str:
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    return _(
        "Too many failed logins in a row for this account or from this address. Try again in "
        "%(minutes)d minutes (each new failed attempt restarts the wait), or ask a site admin to "
        "unlock the account."
    ) % {"minutes": minutes}


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out login form: the reason and the wait, as a page."""
    return render(request, "registration/locked_out.html", {"message": lockout_message()}, status=429)
