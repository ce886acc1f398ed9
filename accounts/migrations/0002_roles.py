"""Create the Agent, Manager and Admin groups with their permissions (cxm.roles)."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from cxm.roles import sync_role_groups

    sync_role_groups(apps)


def remove_roles(apps, schema_editor):
    from cxm import roles

    apps.get_model("auth", "Group").objects.filter(
        name__in=[roles.AGENT, roles.MANAGER, roles.ADMIN]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("customers", "0001_initial"),
        ("tickets", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
