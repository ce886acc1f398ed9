"""Give the roles their permissions on SLA policies, calendars, canned replies and
notifications."""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from cxm.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_ticket_access"),
        ("tickets", "0002_sla_calendars_canned_replies_notifications"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
