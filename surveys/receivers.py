"""How surveys hear about tickets (connected in SurveysConfig.ready). Each runs inside
the ticket service's transaction, so the invitation commits or rolls back with it."""

from django.dispatch import receiver

from tickets.signals import ticket_closed, ticket_reopened, ticket_solved

from . import services
from .models import Survey


@receiver(ticket_solved, dispatch_uid="surveys.ticket_solved")
def on_ticket_solved(sender, ticket, actor, **kwargs) -> None:
    services.invitations_schedule_for_ticket(ticket=ticket, trigger=Survey.Trigger.SOLVED)
    services.follow_up_resolved(ticket=ticket, actor=actor)


@receiver(ticket_closed, dispatch_uid="surveys.ticket_closed")
def on_ticket_closed(sender, ticket, actor, **kwargs) -> None:
    services.invitations_schedule_for_ticket(ticket=ticket, trigger=Survey.Trigger.CLOSED)
    services.follow_up_resolved(ticket=ticket, actor=actor)


@receiver(ticket_reopened, dispatch_uid="surveys.ticket_reopened")
def on_ticket_reopened(sender, ticket, actor, **kwargs) -> None:
    services.invitations_cancel_for_ticket(ticket=ticket)
    services.follow_up_reopened(ticket=ticket)
