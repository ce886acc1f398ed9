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
    "tickets.view_cannedreply",
    "tickets.add_cannedreply",
    "tickets.change_cannedreply",
    "tickets.delete_cannedreply",
    "tickets.view_notification",
    "tickets.change_notification",
    "tickets.view_slapolicy",
    "tickets.view_businesscalendar",
    # Survey answers show on the customer's profile and the ticket sidebar.
    "surveys.view_response",
    "surveys.view_answer",
    "surveys.view_invitation",
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
    "surveys.view_survey",
    "surveys.view_question",
]

# Admins get every permission of the project's apps (see the role migration).
ROLE_PERMISSIONS = {
    AGENT: _TICKET_WORK,
    MANAGER: _TICKET_WORK + _MANAGER_EXTRA,
}
ADMIN_APPS = ("accounts", "customers", "tickets", "surveys", "analytics", "privacy", "authtoken")


def has_role(user, role: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=role).exists()


def is_manager(user) -> bool:
    return user.has_perm("accounts.view_analytics")


def sync_role_groups(apps) -> None:
    """Create the role groups and give them exactly their permissions.

    Called by data migrations (with the historical `apps`) each time models or roles
    change, so a fresh database and an upgraded one end up with the same groups.
    """
    from django.contrib.auth.management import create_permissions
    from django.db.models import Q

    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = Q()
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        # A model created by a later migration has no permission yet: the migration
        # that creates it calls this again (test_roles checks none is left out).
        group.permissions.set(Permission.objects.filter(wanted))
    admin, _created = Group.objects.get_or_create(name=ADMIN)
    admin.permissions.set(
        Permission.objects.filter(content_type__app_label__in=(*ADMIN_APPS, "auth"))
    )
