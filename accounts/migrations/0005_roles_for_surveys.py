"""Give the roles their permissions on surveys: agents and managers read the answers
and invitations, managers also the surveys; admins configure everything."""

from django.db import migrations


def sync_roles(apps, schema_editor):
    from cxm.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_roles_for_help_desk_models"),
        ("surveys", "0001_surveys_questions_invitations_responses"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
