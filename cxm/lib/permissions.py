from collections.abc import Sequence
from typing import TYPE_CHECKING

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.views import APIView


class RoleModelPermissions(DjangoModelPermissions):
    """Model permissions for every method, reads included.

    What each role may do lives in the groups (see accounts' role migration), so the
    API and the admin agree. The model comes from the view's `queryset` (or
    `get_queryset()`); a view whose verb is not a plain add/change (a ticket's
    "reply" is a POST that changes the ticket) names its permissions in
    `required_permissions`. A view with neither is refused: forgetting to declare what
    a view needs must never open it to everyone. Views without a model (health,
    KPIs…) set their own `permission_classes`.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: "APIView") -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        required: Sequence[str] | None = getattr(view, "required_permissions", None)
        if required is not None:
            return user.has_perms(required)
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return False
        return super().has_permission(request, view)
