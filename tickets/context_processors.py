"""What the navigation bar shows on every page: the agent's unread notifications."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import notification_unread_count

_BADGE_MAX = 99


def _unread_badge(user) -> str:
    count = notification_unread_count(user=user, up_to=_BADGE_MAX + 1)
    if count > _BADGE_MAX:
        return f"{_BADGE_MAX}+"
    return str(count) if count else ""


def desk(request: HttpRequest) -> dict:
    """The badge text ("" when nothing is unread). It is read only if a page draws it
    (the admin does not), once per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": SimpleLazyObject(lambda: _unread_badge(user))}
