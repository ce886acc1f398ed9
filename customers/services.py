"""The verbs that change customers, their lifecycle, purchases and touchpoints."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cxm.lib.exceptions import ApplicationError

from .models import Customer, CustomerEvent, LifecycleChange, Purchase

CUSTOMER_EDITABLE_FIELDS = (
    "external_id",
    "name",
    "email",
    "phone",
    "language",
    "segment",
    "account_owner",
    "survey_opt_out",
)
PURCHASE_EDITABLE_FIELDS = ("occurred_at", "amount", "margin", "currency", "kind")
EVENT_EDITABLE_FIELDS = ("channel", "kind", "occurred_at", "value", "note")


def _save_validated(instance, *, exclude: list[str] | None = None) -> None:
    instance.full_clean(exclude=exclude)
    instance.save()


def _refuse_unknown_fields(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")


def _refuse_taken_external_id(customer: Customer) -> None:
    # The unique constraint would say so too, but naming only the constraint.
    taken = (
        Customer.objects.filter(external_id=customer.external_id).exclude(pk=customer.pk).exists()
    )
    if customer.external_id and taken:
        raise ValidationError(
            {
                "external_id": _("Another customer already has the external id “%(value)s”.")
                % {"value": customer.external_id}
            }
        )


def _check_lifecycle_timestamps(
    stage: str, became_customer_at: datetime | None, churned_at: datetime | None
) -> None:
    """The model's check constraints, with messages an integrator can act on."""
    errors = {}
    if stage in (Customer.Stage.CUSTOMER, Customer.Stage.CHURNED) and became_customer_at is None:
        errors["became_customer_at"] = _("A customer needs the date they became a customer.")
    if stage == Customer.Stage.CHURNED and churned_at is None:
        errors["churned_at"] = _("A churned customer needs the date they churned.")
    elif stage != Customer.Stage.CHURNED and churned_at is not None:
        errors["churned_at"] = _("Only a churned customer has a churn date.")
    elif churned_at and became_customer_at and churned_at < became_customer_at:
        errors["churned_at"] = _("A customer cannot churn before they became a customer.")
    if errors:
        raise ValidationError(errors)


def _lock(customer: Customer) -> Customer:
    """Reload the customer's row under a lock, in place, so that two concurrent
    transitions (or one made through a stale instance) cannot both pass the checks."""
    customer.refresh_from_db(from_queryset=Customer.objects.select_for_update())
    return customer


@transaction.atomic
def customer_create(
    *,
    name: str,
    stage: str = Customer.Stage.LEAD,
    stage_changed_at: datetime | None = None,
    **fields: Any,
) -> Customer:
    """Create a customer; a non-lead stage records when they became a customer."""
    _refuse_unknown_fields(fields, CUSTOMER_EDITABLE_FIELDS)
    customer = Customer(name=name, **fields)
    _refuse_taken_external_id(customer)
    _save_validated(customer)
    if stage != Customer.Stage.LEAD:
        customer_set_stage(customer=customer, stage=stage, at=stage_changed_at)
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, stage: str | None = None, **fields: Any) -> Customer:
    """Update profile fields; a stage change goes through the lifecycle rules.

    Only the given fields are written: the lifecycle columns belong to the lifecycle
    verbs, and a stale instance must not overwrite them."""
    _refuse_unknown_fields(fields, CUSTOMER_EDITABLE_FIELDS)
    for name, value in fields.items():
        setattr(customer, name, value)
    _refuse_taken_external_id(customer)
    customer.full_clean()
    customer.save(update_fields=[*fields, "updated_at"])
    if stage is not None:
        _lock(customer)
        if stage != customer.stage:
            customer_set_stage(customer=customer, stage=stage)
    return customer


@transaction.atomic
def customer_set_stage(*, customer: Customer, stage: str, at: datetime | None = None) -> Customer:
    """Move a customer to `stage` through the matching lifecycle verb."""
    if stage not in Customer.Stage.values:
        raise ValidationError({"stage": _("Unknown stage “%(value)s”.") % {"value": stage}})
    _lock(customer)
    transitions = {
        (Customer.Stage.LEAD, Customer.Stage.CUSTOMER): customer_become_customer,
        (Customer.Stage.LEAD, Customer.Stage.CHURNED): _lead_churn,
        (Customer.Stage.CUSTOMER, Customer.Stage.CHURNED): customer_churn,
        (Customer.Stage.CHURNED, Customer.Stage.CUSTOMER): customer_reactivate,
    }
    verb = transitions.get((customer.stage, stage))
    if verb is None:
        raise ApplicationError(
            _("A customer cannot go from “%(from)s” to “%(to)s”.")
            % {"from": customer.get_stage_display(), "to": Customer.Stage(stage).label},
            field="stage",
        )
    return verb(customer=customer, at=at)


def _record_change(customer: Customer, from_stage: str, at: datetime) -> None:
    LifecycleChange.objects.create(
        customer=customer, from_stage=from_stage, to_stage=customer.stage, occurred_at=at
    )


@transaction.atomic
def customer_become_customer(*, customer: Customer, at: datetime | None = None) -> Customer:
    """A lead signs: they become a customer at `at` (now by default)."""
    _lock(customer)
    if customer.stage != Customer.Stage.LEAD:
        raise ApplicationError(_("Only a lead can become a customer."), field="stage")
    at = at or timezone.now()
    customer.stage = Customer.Stage.CUSTOMER
    customer.became_customer_at = at
    customer.save(update_fields=["stage", "became_customer_at", "updated_at"])
    _record_change(customer, Customer.Stage.LEAD, at)
    return customer


@transaction.atomic
def customer_churn(*, customer: Customer, at: datetime | None = None) -> Customer:
    _lock(customer)
    if customer.stage != Customer.Stage.CUSTOMER:
        raise ApplicationError(_("Only a current customer can churn."), field="stage")
    at = at or timezone.now()
    if at < customer.became_customer_at:
        raise ApplicationError(
            _("A customer cannot churn before they became a customer."), field="churned_at"
        )
    customer.stage = Customer.Stage.CHURNED
    customer.churned_at = at
    customer.save(update_fields=["stage", "churned_at", "updated_at"])
    _record_change(customer, Customer.Stage.CUSTOMER, at)
    return customer


def _lead_churn(*, customer: Customer, at: datetime | None = None) -> Customer:
    """A lead who bought and left before we knew: a customer and a churn at once."""
    at = at or timezone.now()
    customer_become_customer(customer=customer, at=at)
    return customer_churn(customer=customer, at=at)


@transaction.atomic
def customer_reactivate(*, customer: Customer, at: datetime | None = None) -> Customer:
    """A churned customer comes back. became_customer_at keeps the first signing date;
    the lifecycle changes keep the gap."""
    _lock(customer)
    if customer.stage != Customer.Stage.CHURNED:
        raise ApplicationError(_("Only a churned customer can be reactivated."), field="stage")
    at = at or timezone.now()
    if at < customer.churned_at:
        raise ApplicationError(_("A customer cannot come back before they churned."), field="stage")
    customer.stage = Customer.Stage.CUSTOMER
    customer.churned_at = None
    customer.save(update_fields=["stage", "churned_at", "updated_at"])
    _record_change(customer, Customer.Stage.CHURNED, at)
    return customer


@transaction.atomic
def customer_import_upsert(
    *,
    external_id: str,
    stage: str,
    became_customer_at: datetime | None,
    churned_at: datetime | None,
    **fields: Any,
) -> tuple[Customer, bool]:
    """Create or update the customer with this external id, taking the lifecycle
    timestamps from the source system as they are. Returns (customer, created).

    A stage change records the same LifecycleChange rows the lifecycle verbs would:
    a lead imported as churned became a customer (at became_customer_at) and churned
    (at churned_at); a churned customer imported as a customer again came back when
    the source says they signed, or now if the source kept the first signing date."""
    if not external_id or not external_id.strip():
        raise ValidationError({"external_id": _("An imported customer needs an external id.")})
    _refuse_unknown_fields(fields, tuple(f for f in CUSTOMER_EDITABLE_FIELDS if f != "external_id"))
    _check_lifecycle_timestamps(stage, became_customer_at, churned_at)
    # The exclude() repeats the unique index's condition, so SQLite uses that index.
    customer = (
        Customer.objects.select_for_update()
        .filter(external_id=external_id)
        .exclude(external_id="")
        .first()
    )
    created = customer is None
    if created:
        customer = Customer(external_id=external_id)
    previous_stage = Customer.Stage.LEAD if created else customer.stage
    previous_churned_at = None if created else customer.churned_at
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.stage = stage
    customer.became_customer_at = became_customer_at
    customer.churned_at = churned_at
    # The constraints are checked above with clearer messages and enforced by the
    # database; re-checking them through full_clean tripled the time of a bulk import.
    customer.full_clean(validate_constraints=False)
    customer.save()

    def record(from_stage: str, to_stage: str, at: datetime) -> None:
        LifecycleChange.objects.create(
            customer=customer, from_stage=from_stage, to_stage=to_stage, occurred_at=at
        )

    Stage = Customer.Stage
    if previous_stage == Stage.LEAD and stage in (Stage.CUSTOMER, Stage.CHURNED):
        record(Stage.LEAD, Stage.CUSTOMER, became_customer_at)
    if previous_stage != Stage.CHURNED and stage == Stage.CHURNED:
        record(Stage.CUSTOMER, Stage.CHURNED, churned_at)
    if previous_stage == Stage.CHURNED and stage == Stage.CUSTOMER:
        came_back_at = became_customer_at
        if previous_churned_at is not None and came_back_at < previous_churned_at:
            came_back_at = max(timezone.now(), previous_churned_at)
        record(Stage.CHURNED, Stage.CUSTOMER, came_back_at)
    return customer, created


@transaction.atomic
def purchase_create(
    *,
    customer: Customer,
    amount: Decimal,
    margin: Decimal,
    occurred_at: datetime | None = None,
    currency: str = "EUR",
    kind: str = Purchase.Kind.NEW,
) -> Purchase:
    purchase = Purchase(
        customer=customer,
        amount=amount,
        margin=margin,
        occurred_at=occurred_at or timezone.now(),
        currency=currency.upper(),
        kind=kind,
    )
    _save_validated(purchase)
    return purchase


@transaction.atomic
def purchase_update(*, purchase: Purchase, **fields: Any) -> Purchase:
    unknown = set(fields) - set(PURCHASE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(purchase, name, value)
    purchase.currency = purchase.currency.upper()
    _save_validated(purchase)
    return purchase


@transaction.atomic
def purchase_import_upsert(
    *, customer: Customer, occurred_at: datetime, kind: str, **fields: Any
) -> tuple[Purchase, bool]:
    """Purchases are identified by customer, time and kind: re-importing updates."""
    purchase = (
        Purchase.objects.select_for_update()
        .filter(customer=customer, occurred_at=occurred_at, kind=kind)
        .first()
    )
    if purchase is None:
        return purchase_create(
            customer=customer, occurred_at=occurred_at, kind=kind, **fields
        ), True
    return purchase_update(purchase=purchase, **fields), False


@transaction.atomic
def customer_event_create(
    *,
    customer: Customer,
    channel: str,
    kind: str,
    occurred_at: datetime | None = None,
    value: Decimal | None = None,
    note: str = "",
) -> CustomerEvent:
    event = CustomerEvent(
        customer=customer,
        channel=channel,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        value=value,
        note=note,
    )
    _save_validated(event)
    return event


@transaction.atomic
def customer_event_update(*, event: CustomerEvent, **fields: Any) -> CustomerEvent:
    unknown = set(fields) - set(EVENT_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unexpected fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(event, name, value)
    _save_validated(event)
    return event
