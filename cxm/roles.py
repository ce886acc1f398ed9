"""The three staff roles. Each is a Django group; what it may do is its permissions."""

from django.utils.translation import gettext_lazy as _

AGENT = "Agent"
MANAGER = "Manager"
ADMIN = "Admin"

ROLE_LABELS = {AGENT: _("Agent"), MANAGER: _("Manager"), ADMIN: _("Admin")}

_TICKET_WORK = [
    "tickets.view_ticket",
    "tickets.add_ticket",
    "tickets.change_ticket",
    "tickets.view_message",
    "tickets.add_message",
    "tickets.view_ticketevent",
    "tickets.view_team",
    "tickets.view_tag",
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.view_purchase",
    "customers.view_customerevent",
    "customers.add_customerevent",
]
_MANAGER_EXTRA = [
    "accounts.view_analytics",
    "customers.add_purchase",
    "customers.change_purchase",
    "customers.change_customerevent",
    "tickets.add_team",
    "tickets.change_team",
    "tickets.add_tag",
    "tickets.change_tag",
]

# Admins get every permission of the project's apps (see the role migration).
ROLE_PERMISSIONS = {
    AGENT: _TICKET_WORK,
    MANAGER: _TICKET_WORK + _MANAGER_EXTRA,
}
ADMIN_APPS = ("accounts", "customers", "tickets", "surveys", "analytics", "authtoken")


def has_role(user, role: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=role).exists()


def is_manager(user) -> bool:
    return user.has_perm("accounts.view_analytics")
