"""Role checks shared by the API views: 404 for what the user can't see, 403 for what they can't do."""

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied

from catalog.models import Role
from catalog.selectors import user_can

ROLE_NEEDED_MESSAGES = {
    Role.CONTRIBUTOR: _("You need to be a contributor of this organisation."),
    Role.REVIEWER: _("You need to be a reviewer of this organisation."),
    Role.ORG_ADMIN: _("You need to be an admin of this organisation."),
}


def require_role(user, organization_id: int | None, role: str) -> None:
    if organization_id is None or not user_can(user, organization_id, role):
        raise PermissionDenied(ROLE_NEEDED_MESSAGES.get(role, _("You may not do this.")))
