"""/api/token/ under the login limits: DRF throttles per address and per account, django-axes lockout.

DRF hands django-axes its own Request object, so axes' middleware never sees the lockout that
axes marks there; this view answers it itself, with the same 429 and words as the login page.
"""

from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from catalog.login_limits import lockout_message


class TokenAccountThrottle(SimpleRateThrottle):
    """Token requests per account named in the request, whatever address they come from."""

    scope = "token_account"

    def get_cache_key(self, request, view):
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None  # nothing to count; the serializer refuses the request
        return self.cache_format % {"scope": self.scope, "ident": username.strip().lower()}


class TokenView(ObtainAuthToken):
    throttle_classes = (ScopedRateThrottle, TokenAccountThrottle)
    throttle_scope = "token"  # ScopedRateThrottle: per address for these anonymous requests

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except ValidationError:
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise
