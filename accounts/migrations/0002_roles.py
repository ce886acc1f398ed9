"""Create the Agent, Manager and Admin groups with their permissions (cxm.roles)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_roles(apps, schema_editor):
    from cxm import roles

    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in roles.ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)
    admin, _ = Group.objects.get_or_create(name=roles.ADMIN)
    admin.permissions.set(
        Permission.objects.filter(content_type__app_label__in=roles.ADMIN_APPS)
        | Permission.objects.filter(content_type__app_label="auth")
    )


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
