"""manage.py import_customers FILE.csv — customers from another help desk or CRM.

Columns: external_id, name (required); email, phone, language, segment, stage,
became_customer_at, churned_at. Re-importing a file updates the customers with the
same external_id.
"""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Language
from customers.models import Customer
from customers.services import customer_import_upsert
from cxm.lib.csv_import import (
    CsvImportCommand,
    Importer,
    Record,
    RowErrors,
    clean_model_field,
    fetch_by,
    parse_choice,
    parse_timestamp,
    required,
)

Stage = Customer.Stage
PROFILE_COLUMNS = ("name", "email", "phone", "segment")
LIFECYCLE_COLUMNS = ("stage", "became_customer_at", "churned_at")


def lifecycle_errors(
    stage: str, became_customer_at: datetime | None, churned_at: datetime | None
) -> dict[str, str]:
    """What is wrong with this combination of stage and stage timestamps, by column."""
    errors: dict[str, str] = {}
    if stage in (Stage.CUSTOMER, Stage.CHURNED) and became_customer_at is None:
        errors["became_customer_at"] = _(
            "A customer at stage “%(stage)s” needs the date they became a customer."
        ) % {"stage": stage}
    if stage == Stage.CHURNED and churned_at is None:
        errors["churned_at"] = _("A churned customer needs the date they churned.")
    if stage != Stage.CHURNED and churned_at is not None:
        errors["churned_at"] = _(
            "Only a churned customer has a churn date; this one is at stage “%(stage)s”."
        ) % {"stage": stage}
    if (
        churned_at is not None
        and became_customer_at is not None
        and churned_at < became_customer_at
    ):
        errors["churned_at"] = _("It is earlier than became_customer_at.")
    return errors


class CustomerImporter(Importer):
    required_columns = ("external_id", "name")
    optional_columns = ("email", "phone", "language", "segment", *LIFECYCLE_COLUMNS)
    unique_column = "external_id"

    def prepare(self, records: list[Record]) -> None:
        # Without the lifecycle columns a re-import keeps each customer's stage: fetch
        # the current ones rather than resetting everybody to lead.
        self.current: dict[str, Customer] = {}
        if not all(self.has(column) for column in LIFECYCLE_COLUMNS):
            self.current = fetch_by(
                Customer.objects.only("external_id", *LIFECYCLE_COLUMNS),
                "external_id",
                (record.values["external_id"] for record in records),
            )

    def clean(self, values: dict[str, str], errors: RowErrors) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        with errors.column("external_id"):
            cleaned["external_id"] = clean_model_field(
                Customer, "external_id", required(values["external_id"])
            )
        for column in PROFILE_COLUMNS:
            if self.has(column):
                with errors.column(column):
                    cleaned[column] = clean_model_field(Customer, column, values[column])
        if self.has("language") and values["language"]:
            with errors.column("language"):
                cleaned["language"] = parse_choice(values["language"], Language)
        if self.has("stage"):
            with errors.column("stage"):
                cleaned["stage"] = parse_choice(values["stage"], Stage, default=Stage.LEAD)
        for column in ("became_customer_at", "churned_at"):
            if self.has(column):
                with errors.column(column):
                    cleaned[column] = parse_timestamp(values[column])
        if all(column in cleaned for column in LIFECYCLE_COLUMNS):
            for column, message in lifecycle_errors(
                cleaned["stage"], cleaned["became_customer_at"], cleaned["churned_at"]
            ).items():
                errors.add(column, message)
        return cleaned

    def write(self, cleaned: dict[str, Any]) -> bool:
        current = self.current.get(cleaned["external_id"])
        lifecycle = {
            column: cleaned[column] if column in cleaned else getattr(current, column, None)
            for column in LIFECYCLE_COLUMNS
        }
        lifecycle["stage"] = lifecycle["stage"] or Stage.LEAD
        if problems := lifecycle_errors(**lifecycle):
            raise ValidationError(problems)
        profile = {
            column: cleaned[column]
            for column in (*PROFILE_COLUMNS, "language")
            if column in cleaned
        }
        _, created = customer_import_upsert(
            external_id=cleaned["external_id"], **lifecycle, **profile
        )
        return created


class Command(CsvImportCommand):
    help = gettext_lazy(
        "Import customers from a CSV file (external_id, name, email, phone, language, "
        "segment, stage, became_customer_at, churned_at). Re-importing updates them."
    )
    importer_class = CustomerImporter
