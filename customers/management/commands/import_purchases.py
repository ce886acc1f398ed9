"""manage.py import_purchases FILE.csv — purchases of customers imported before.

Columns: customer_external_id, occurred_at, amount, margin (required); currency, kind.
A purchase is identified by its customer, occurred_at and kind: re-importing updates it.
"""

import re
from collections.abc import Hashable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer, Purchase
from customers.services import purchase_import_upsert
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

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def unknown_customer(external_id: str) -> ValidationError:
    return ValidationError(
        _("No customer has the external id “%(value)s”; import the customers first.")
        % {"value": external_id}
    )


class PurchaseImporter(Importer):
    required_columns = ("customer_external_id", "occurred_at", "amount", "margin")
    optional_columns = ("currency", "kind")
    natural_key_columns = ("customer_external_id", "occurred_at", "kind")

    def prepare(self, records: list[Record]) -> None:
        self.customers = fetch_by(
            Customer.objects.all(),
            "external_id",
            (record.values["customer_external_id"] for record in records),
        )

    def clean(self, values: dict[str, str], errors: RowErrors) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        with errors.column("customer_external_id"):
            external_id = required(values["customer_external_id"])
            if external_id not in self.customers:
                raise unknown_customer(external_id)
            cleaned["customer"] = self.customers[external_id]
        with errors.column("occurred_at"):
            cleaned["occurred_at"] = parse_timestamp(required(values["occurred_at"]))
        for column in ("amount", "margin"):
            with errors.column(column):
                cleaned[column] = clean_model_field(Purchase, column, required(values[column]))
        if self.has("currency") and values["currency"]:
            with errors.column("currency"):
                currency = values["currency"].upper()
                if not CURRENCY_RE.match(currency):
                    raise ValidationError(
                        _("“%(value)s” is not a three-letter currency code such as EUR.")
                        % {"value": values["currency"]}
                    )
                cleaned["currency"] = currency
        with errors.column("kind"):
            cleaned["kind"] = parse_choice(
                values.get("kind", ""), Purchase.Kind, default=Purchase.Kind.NEW
            )
        return cleaned

    def natural_key(self, cleaned: dict[str, Any]) -> Hashable:
        return (cleaned["customer"].pk, cleaned["occurred_at"], cleaned["kind"])

    def write(self, cleaned: dict[str, Any]) -> bool:
        _, created = purchase_import_upsert(**cleaned)
        return created


class Command(CsvImportCommand):
    help = gettext_lazy(
        "Import purchases from a CSV file (customer_external_id, occurred_at, amount, "
        "margin, currency, kind). A purchase is identified by customer, occurred_at and "
        "kind: re-importing updates it."
    )
    importer_class = PurchaseImporter
