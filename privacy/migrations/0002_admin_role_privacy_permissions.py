"""Give the Admin role the privacy permissions (export and erase a customer's personal
data, read the erasure log): cxm.roles.ADMIN_APPS lists privacy."""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from cxm.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_roles_for_surveys"),
        ("privacy", "0001_erasure_records"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
