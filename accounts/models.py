from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    SPANISH = "es", _("Spanish")


class User(AbstractUser):
    """A member of staff: agent, manager or admin (see cxm.roles)."""

    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    is_available = models.BooleanField(
        _("available for assignment"),
        default=True,
        help_text=_("Auto-assignment only picks agents who are available."),
    )

    class TicketAccess(models.TextChoices):
        ALL = "all", _("All tickets")
        TEAMS = "teams", _("Only their teams' tickets")

    ticket_access = models.CharField(
        _("ticket access"),
        max_length=5,
        choices=TicketAccess.choices,
        default=TicketAccess.ALL,
        help_text=_("Agents restricted to their teams cannot see other teams' tickets."),
    )

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [
            ("view_analytics", _("Can view analytics")),
            ("configure_surveys", _("Can configure surveys")),
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username
