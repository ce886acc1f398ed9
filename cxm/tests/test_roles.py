from django.contrib.auth.models import Group

from accounts.tests.factories import admin, agent, manager
from cxm import roles


def test_the_three_roles_exist_after_migrating(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {
        roles.AGENT,
        roles.MANAGER,
        roles.ADMIN,
    }


def test_agents_work_tickets_and_customers_but_cannot_touch_purchases_or_analytics(db):
    user = agent()
    assert user.has_perms(
        ["tickets.change_ticket", "tickets.add_message", "customers.add_customer"]
    )
    assert not user.has_perm("customers.add_purchase")
    assert not user.has_perm("accounts.view_analytics")
    assert not user.has_perm("tickets.delete_ticket")


def test_managers_also_read_analytics_and_record_purchases(db):
    user = manager()
    assert user.has_perms(["tickets.change_ticket", "accounts.view_analytics"])
    assert user.has_perm("customers.add_purchase")
    assert not user.has_perm("accounts.add_user")
    assert roles.is_manager(user)


def test_admins_configure_everything(db):
    user = admin()
    assert user.has_perms(
        [
            "accounts.add_user",
            "auth.change_group",
            "tickets.delete_ticket",
            "accounts.view_analytics",
        ]
    )
    assert roles.has_role(user, roles.ADMIN)
    assert not roles.has_role(user, roles.AGENT)


def test_every_permission_a_role_lists_exists_and_is_granted(db):
    for role, codenames in roles.ROLE_PERMISSIONS.items():
        granted = {
            f"{app_label}.{codename}"
            for app_label, codename in Group.objects.get(name=role).permissions.values_list(
                "content_type__app_label", "codename"
            )
        }
        assert set(codenames) == granted, role
