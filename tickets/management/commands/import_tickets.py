"""manage.py import_tickets FILE.csv — the ticket history of another help desk.

Columns: external_id, customer_external_id, subject, created_at (required); channel,
priority, category, team, assignee_username, first_response_at, solved_at, closed_at,
reopen_count. The status follows from the timestamps; re-importing updates the tickets
with the same external_id. Imported tickets survey nobody.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Channel, Customer
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
from tickets.models import Team, Ticket
from tickets.services import ticket_import_upsert
from tickets.sla import BusinessCalendars

TIMESTAMP_COLUMNS = ("first_response_at", "solved_at", "closed_at")
# Optional column → the service argument it fills and its value for a new ticket.
OPTIONAL_DEFAULTS: dict[str, tuple[str, Any]] = {
    "channel": ("channel", Channel.EMAIL),
    "priority": ("priority", Ticket.Priority.NORMAL),
    "category": ("category", ""),
    "team": ("team", None),
    "assignee_username": ("assignee", None),
    "first_response_at": ("first_response_at", None),
    "solved_at": ("solved_at", None),
    "closed_at": ("closed_at", None),
    "reopen_count": ("reopen_count", 0),
}


class TicketImporter(Importer):
    required_columns = ("external_id", "customer_external_id", "subject", "created_at")
    optional_columns = tuple(OPTIONAL_DEFAULTS)
    unique_column = "external_id"

    def prepare(self, records: list[Record]) -> None:
        def column_values(column: str) -> list[str]:
            return [record.values.get(column, "") for record in records]

        self.customers = fetch_by(
            Customer.objects.all(), "external_id", column_values("customer_external_id")
        )
        self.teams = {team.name: team for team in Team.objects.all()}
        self.teams_by_folded_name = {name.casefold(): team for name, team in self.teams.items()}
        self.users = fetch_by(
            get_user_model().objects.all(),
            "username",
            column_values("assignee_username"),
        )
        self.memberships = set(Team.members.through.objects.values_list("team_id", "user_id"))
        # Business-hours times: each SLA policy and calendar read once for the whole file.
        self.calendars = BusinessCalendars()
        # An absent optional column leaves re-imported tickets' values as they are.
        self.current: dict[str, Ticket] = {}
        if not all(self.has(column) for column in OPTIONAL_DEFAULTS):
            self.current = fetch_by(
                Ticket.objects.select_related("team", "assignee"),
                "external_id",
                column_values("external_id"),
            )

    def _team(self, name: str) -> Team | None:
        if not name:
            return None
        team = self.teams.get(name) or self.teams_by_folded_name.get(name.casefold())
        if team is None:
            raise ValidationError(_("No team is called “%(value)s”.") % {"value": name})
        return team

    def _assignee(self, username: str):
        if not username:
            return None
        if username not in self.users:
            raise ValidationError(_("No user has the username “%(value)s”.") % {"value": username})
        return self.users[username]

    def clean(self, values: dict[str, str], errors: RowErrors) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        with errors.column("external_id"):
            cleaned["external_id"] = clean_model_field(
                Ticket, "external_id", required(values["external_id"])
            )
        with errors.column("customer_external_id"):
            external_id = required(values["customer_external_id"])
            if external_id not in self.customers:
                raise ValidationError(
                    _("No customer has the external id “%(value)s”; import the customers first.")
                    % {"value": external_id}
                )
            cleaned["customer"] = self.customers[external_id]
        with errors.column("subject"):
            cleaned["subject"] = clean_model_field(Ticket, "subject", values["subject"])
        with errors.column("created_at"):
            cleaned["created_at"] = parse_timestamp(required(values["created_at"]))
        if self.has("channel"):
            with errors.column("channel"):
                cleaned["channel"] = parse_choice(values["channel"], Channel, default=Channel.EMAIL)
        if self.has("priority"):
            with errors.column("priority"):
                cleaned["priority"] = parse_choice(
                    values["priority"], Ticket.Priority, default=Ticket.Priority.NORMAL
                )
        if self.has("category"):
            with errors.column("category"):
                cleaned["category"] = clean_model_field(Ticket, "category", values["category"])
        if self.has("team"):
            with errors.column("team"):
                cleaned["team"] = self._team(values["team"])
        if self.has("assignee_username"):
            with errors.column("assignee_username"):
                cleaned["assignee"] = self._assignee(values["assignee_username"])
        for column in TIMESTAMP_COLUMNS:
            if self.has(column):
                with errors.column(column):
                    cleaned[column] = parse_timestamp(values[column])
        if self.has("reopen_count"):
            with errors.column("reopen_count"):
                cleaned["reopen_count"] = clean_model_field(
                    Ticket, "reopen_count", values["reopen_count"] or "0"
                )
        team, assignee = cleaned.get("team"), cleaned.get("assignee")
        if team and assignee and (team.pk, assignee.pk) not in self.memberships:
            errors.add(
                "assignee_username",
                _("%(user)s is not a member of team %(team)s.")
                % {"user": assignee.get_username(), "team": team.name},
            )
        return cleaned

    def write(self, cleaned: dict[str, Any]) -> bool:
        current = self.current.get(cleaned["external_id"])
        arguments = {
            name: cleaned[name] for name in ("external_id", "customer", "subject", "created_at")
        }
        for argument, default in OPTIONAL_DEFAULTS.values():
            if argument in cleaned:
                arguments[argument] = cleaned[argument]
            elif current is not None:
                arguments[argument] = getattr(current, argument)
            else:
                arguments[argument] = default
        _, created = ticket_import_upsert(**arguments, calendars=self.calendars)
        return created


class Command(CsvImportCommand):
    help = gettext_lazy(
        "Import tickets from a CSV file (external_id, customer_external_id, subject, "
        "channel, priority, category, team, assignee_username, created_at, "
        "first_response_at, solved_at, closed_at, reopen_count). The status follows from "
        "the timestamps; re-importing updates them."
    )
    importer_class = TicketImporter
