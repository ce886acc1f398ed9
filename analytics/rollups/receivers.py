"""What marks rollup days dirty: every change to a row the rollups sum marks the local
days it counts on (and, for a change that moves a row, the day it counted on before).
Connected in AnalyticsConfig.ready(); the marks are written once the change commits.
Changes to a customer's lifecycle refresh their lifecycle facts at once, in the same
transaction (analytics.rollups.lifecycle).

Not caught here, and left to the nightly reconciliation: bulk UPDATEs that bypass save()
(none of them touches a rolled-up figure of a past day) and a customer changing segment
(their rows move from one segment's rollups to another's).
"""

from django.db.models import Min
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from customers.models import Customer, LifecycleChange, Purchase
from surveys.models import Answer, Invitation, Response
from surveys.signals import response_recorded
from tickets.models import Ticket
from tickets.signals import ticket_reopened, ticket_solved

from . import lifecycle
from .build import local_day, mark_dirty

_UID = "analytics.rollups"


@receiver(post_save, sender=Ticket, dispatch_uid=f"{_UID}.ticket_saved")
@receiver(post_delete, sender=Ticket, dispatch_uid=f"{_UID}.ticket_deleted")
def ticket_changed(sender, instance: Ticket, created=False, **kwargs) -> None:
    # Its invitations take their team, agent, channel and category from the ticket (a
    # ticket just created has none yet).
    sent = [] if created else _sent_days(instance)
    mark_dirty([local_day(instance.created_at), local_day(instance.solved_at), *sent])


def _sent_days(ticket: Ticket) -> list:
    if ticket.pk is None:
        return []
    sent = Invitation.objects.filter(ticket_id=ticket.pk, sent_at__isnull=False)
    return [local_day(at) for at in sent.values_list("sent_at", flat=True)]


@receiver(ticket_reopened, dispatch_uid=f"{_UID}.ticket_reopened")
def ticket_reopened_receiver(sender, ticket: Ticket, undone_solved_at=None, **kwargs) -> None:
    # The resolution counted on undone_solved_at's day is gone; closed loops may reopen.
    mark_dirty([local_day(undone_solved_at), *_loop_days(ticket), *_sent_days(ticket)])


@receiver(ticket_solved, dispatch_uid=f"{_UID}.ticket_solved")
def ticket_solved_receiver(sender, ticket: Ticket, **kwargs) -> None:
    # Solving a follow-up ticket closes the loop of the responses it was opened for.
    mark_dirty(_loop_days(ticket))


def _loop_days(ticket: Ticket) -> list:
    return [
        local_day(at)
        for at in Response.objects.filter(follow_up_ticket=ticket).values_list(
            "answered_at", flat=True
        )
    ]


@receiver(post_save, sender=Response, dispatch_uid=f"{_UID}.response_saved")
@receiver(post_delete, sender=Response, dispatch_uid=f"{_UID}.response_deleted")
def response_changed(sender, instance: Response, **kwargs) -> None:
    days = [local_day(instance.answered_at)]
    if instance.invitation_id:
        # Answering an invitation changes the response rate of the day it was sent.
        if Response.invitation.is_cached(instance):
            days.append(local_day(instance.invitation.sent_at))
        else:
            days += [
                local_day(at)
                for at in Invitation.objects.filter(pk=instance.invitation_id).values_list(
                    "sent_at", flat=True
                )
            ]
    mark_dirty(days)


@receiver(response_recorded, dispatch_uid=f"{_UID}.response_recorded")
def response_recorded_receiver(sender, response: Response, previous_answered_at=None, **kw):
    # A changed answer moves from the day it was first given to today.
    mark_dirty([local_day(previous_answered_at), local_day(response.answered_at)])


@receiver(post_save, sender=Answer, dispatch_uid=f"{_UID}.answer_saved")
@receiver(post_delete, sender=Answer, dispatch_uid=f"{_UID}.answer_deleted")
def answer_changed(sender, instance: Answer, **kwargs) -> None:
    answered_at = (
        Response.objects.filter(pk=instance.response_id)
        .values_list("answered_at", flat=True)
        .first()
    )
    mark_dirty([local_day(answered_at)])


@receiver(post_save, sender=Invitation, dispatch_uid=f"{_UID}.invitation_saved")
@receiver(post_delete, sender=Invitation, dispatch_uid=f"{_UID}.invitation_deleted")
def invitation_changed(sender, instance: Invitation, **kwargs) -> None:
    mark_dirty([local_day(instance.sent_at)])


@receiver(pre_save, sender=Purchase, dispatch_uid=f"{_UID}.purchase_moving")
def purchase_moving(sender, instance: Purchase, **kwargs) -> None:
    """A purchase moved to another day or customer leaves its old day (and its old
    customer's first-purchase day) behind: mark them too."""
    if instance.pk is None:
        return
    before = Purchase.objects.filter(pk=instance.pk).values("occurred_at", "customer_id").first()
    if before is None:
        return
    if (before["occurred_at"], before["customer_id"]) == (
        instance.occurred_at,
        instance.customer_id,
    ):
        return
    first = Purchase.objects.filter(customer_id=before["customer_id"]).aggregate(
        first=Min("occurred_at")
    )["first"]
    mark_dirty([local_day(before["occurred_at"]), local_day(first)])


@receiver(post_save, sender=Purchase, dispatch_uid=f"{_UID}.purchase_saved")
@receiver(post_delete, sender=Purchase, dispatch_uid=f"{_UID}.purchase_deleted")
def purchase_changed(sender, instance: Purchase, **kwargs) -> None:
    # The day of the customer's first purchase counts a first buyer: if this purchase is
    # earlier, that count moves from the day of their earliest other purchase.
    first = (
        Purchase.objects.filter(customer_id=instance.customer_id)
        .exclude(pk=instance.pk)
        .aggregate(first=Min("occurred_at"))["first"]
    )
    mark_dirty([local_day(instance.occurred_at), local_day(first)])


# The customer fields the lifecycle facts are made of.
_LIFECYCLE_FIELDS = frozenset(("segment", "created_at", "became_customer_at", "churned_at"))


@receiver(post_save, sender=Customer, dispatch_uid=f"{_UID}.customer_saved")
def customer_saved(sender, instance: Customer, update_fields=None, raw=False, **kwargs) -> None:
    if raw or (update_fields is not None and not _LIFECYCLE_FIELDS & set(update_fields)):
        return
    lifecycle.refresh([instance.pk])


@receiver(post_save, sender=LifecycleChange, dispatch_uid=f"{_UID}.lifecycle_saved")
@receiver(post_delete, sender=LifecycleChange, dispatch_uid=f"{_UID}.lifecycle_deleted")
def lifecycle_changed(sender, instance: LifecycleChange, raw=False, origin=None, **kwargs) -> None:
    # A customer's deletion takes their changes and facts with it: nothing to refresh.
    if raw or isinstance(origin, Customer) or getattr(origin, "model", None) is Customer:
        return
    lifecycle.refresh([instance.customer_id])
