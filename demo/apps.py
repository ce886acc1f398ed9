from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """Demo data (`manage.py seed_demo`). It imports every other app; nothing imports it."""

    name = "demo"
    verbose_name = _("Demo data")
