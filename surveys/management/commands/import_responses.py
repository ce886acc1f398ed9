"""manage.py import_responses FILE.csv — survey answers exported from another tool.

Columns: customer_external_id, survey, question_type (nps, csat, ces, yes_no, text),
score (empty for text), answered_at (required); comment, ticket_external_id. A survey
named in the file that does not exist yet is created, inactive, with a question of that
type. An answer is identified by customer, survey, question type and answered_at:
re-importing updates it. Imported answers count in every KPI, open no follow-up
ticket and email nobody.
"""

import re
from collections.abc import Hashable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer
from cxm.lib.csv_import import (
    CsvImportCommand,
    Importer,
    Record,
    RowErrors,
    clean_model_field,
    fetch_by,
    parse_timestamp,
    required,
)
from surveys.models import Question, Survey
from surveys.services import response_import_upsert
from surveys.services.imports import IMPORTABLE_TYPES, MAX_COMMENT_LENGTH, imported_scale
from tickets.models import Ticket

# How other tools and spreadsheets write yes and no (English and Spanish).
YES_NO_WORDS = {
    "1": 1,
    "yes": 1,
    "y": 1,
    "true": 1,
    "sí": 1,
    "si": 1,
    "0": 0,
    "no": 0,
    "n": 0,
    "false": 0,
}


def parse_question_type(text: str) -> str:
    value = re.sub(r"[\s-]+", "_", text.strip().lower())
    if value in IMPORTABLE_TYPES:
        return value
    raise ValidationError(
        _("“%(value)s” is not allowed; use one of: %(allowed)s.")
        % {"value": text, "allowed": ", ".join(IMPORTABLE_TYPES)}
    )


def parse_score(text: str, question_type: str, scale: tuple[int, int] | None) -> int | None:
    """The score in a cell, checked against the question's scale; blank → None."""
    if not text:
        if scale is None:
            return None
        raise ValidationError(_("A %(type)s answer needs a score.") % {"type": question_type})
    if scale is None:
        raise ValidationError(_("A free-text answer has no score; leave the score empty."))
    low, high = scale
    if question_type == Question.Type.YES_NO:
        if text.strip().lower() in YES_NO_WORDS:
            return YES_NO_WORDS[text.strip().lower()]
        raise ValidationError(
            _("“%(value)s” is not a yes/no answer; use yes, no, sí, true, false, 1 or 0.")
            % {"value": text}
        )
    try:
        score = int(text)
    except ValueError:
        score = None
    if score is None or not low <= score <= high:
        raise ValidationError(
            _("“%(value)s” is not a %(type)s score: use a whole number from %(low)s to %(high)s.")
            % {"value": text, "type": question_type, "low": low, "high": high}
        )
    return score


class ResponseImporter(Importer):
    required_columns = ("customer_external_id", "survey", "question_type", "score", "answered_at")
    # Without a comment column, re-imported answers keep their comments.
    optional_columns = ("comment", "ticket_external_id")
    natural_key_columns = ("customer_external_id", "survey", "question_type", "answered_at")

    def prepare(self, records: list[Record]) -> None:
        def column_values(column: str) -> list[str]:
            return [record.values.get(column, "") for record in records]

        self.customers = fetch_by(
            Customer.objects.all(), "external_id", column_values("customer_external_id")
        )
        self.tickets = fetch_by(
            Ticket.objects.all(), "external_id", column_values("ticket_external_id")
        )
        surveys = Survey.objects.prefetch_related("questions")
        self.surveys = {survey.name.casefold(): survey for survey in surveys}
        self.now = timezone.now()

    def clean(self, values: dict[str, str], errors: RowErrors) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        with errors.column("customer_external_id"):
            external_id = required(values["customer_external_id"])
            if external_id not in self.customers:
                raise ValidationError(
                    _("No customer has the external id “%(value)s”; import the customers first.")
                    % {"value": external_id}
                )
            cleaned["customer"] = self.customers[external_id]
        with errors.column("survey"):
            cleaned["survey_name"] = clean_model_field(Survey, "name", values["survey"])
        with errors.column("question_type"):
            cleaned["question_type"] = parse_question_type(required(values["question_type"]))
        with errors.column("answered_at"):
            answered_at = parse_timestamp(required(values["answered_at"]))
            if answered_at > self.now:
                raise ValidationError(_("It is in the future."))
            cleaned["answered_at"] = answered_at
        if self.has("comment"):
            with errors.column("comment"):
                if len(values["comment"]) > MAX_COMMENT_LENGTH:
                    raise ValidationError(_("Keep it under 5,000 characters, please."))
                cleaned["comment"] = values["comment"]
        if "question_type" in cleaned:
            survey = self.surveys.get(cleaned.get("survey_name", "").casefold())
            scale = imported_scale(survey, cleaned["question_type"])
            with errors.column("score"):
                cleaned["score"] = parse_score(values["score"], cleaned["question_type"], scale)
            if scale is None and self.has("comment") and not cleaned.get("comment"):
                errors.add("comment", _("A free-text answer needs its text in the comment column."))
        cleaned["ticket"] = None
        if self.has("ticket_external_id") and values["ticket_external_id"]:
            with errors.column("ticket_external_id"):
                ticket = self.tickets.get(values["ticket_external_id"])
                if ticket is None:
                    raise ValidationError(
                        _("No ticket has the external id “%(value)s”; import the tickets first.")
                        % {"value": values["ticket_external_id"]}
                    )
                customer = cleaned.get("customer")
                if customer is not None and ticket.customer_id != customer.pk:
                    raise ValidationError(
                        _("Ticket “%(value)s” belongs to another customer.")
                        % {"value": values["ticket_external_id"]}
                    )
                cleaned["ticket"] = ticket
        return cleaned

    def natural_key(self, cleaned: dict[str, Any]) -> Hashable:
        return (
            cleaned["customer"].pk,
            cleaned["survey_name"].casefold(),
            cleaned["question_type"],
            cleaned["answered_at"],
        )

    def write(self, cleaned: dict[str, Any]) -> bool:
        _answer, created = response_import_upsert(**cleaned)
        return created


class Command(CsvImportCommand):
    help = gettext_lazy(
        "Import survey answers from a CSV file (customer_external_id, survey, question_type, "
        "score, comment, answered_at, ticket_external_id). An answer is identified by "
        "customer, survey, question type and answered_at: re-importing updates it."
    )
    importer_class = ResponseImporter
