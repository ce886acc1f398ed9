"""Forms of the queue page, its bulk actions, the new-ticket page and availability."""

from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from customers.models import Channel, Customer

from .. import selectors
from ..models import Priority, Ticket
from ..selectors import QueueSort, QueueView
from ..services import BulkAction

PAGE_SIZE = 50


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


def _blank(label: str, choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", label), *choices]


class TicketIdsField(forms.Field):
    """The ticked rows' ticket ids. Any id parses; the view keeps only those the user
    may see."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        if not all(str(item).isdigit() for item in values):
            raise ValidationError(_("Unknown ticket."), code="invalid")
        return list(dict.fromkeys(int(item) for item in values))


class QueueFilterForm(forms.Form):
    """The queue's query string. Every field is optional; a bad value is reported and
    ignored, so the queue always shows something."""

    VIEWS = [
        (QueueView.MINE, _("Mine")),
        (QueueView.UNASSIGNED, _("Unassigned")),
        (QueueView.MY_TEAMS, _("My teams")),
        (QueueView.ALL, _("All")),
        (QueueView.BREACHING, _("Breaching SLA")),
    ]
    SORTS = [
        (QueueSort.UPDATED, _("Last update")),
        (QueueSort.PRIORITY, _("Priority")),
        (QueueSort.SLA_DUE, _("SLA due")),
    ]

    view = forms.ChoiceField(choices=VIEWS, required=False, widget=forms.HiddenInput)
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"placeholder": _("T-000123, subject, customer name or email")}
        ),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=_blank(_("Open work"), Ticket.Status.choices),
    )
    priority = forms.ChoiceField(
        label=_("Priority"), required=False, choices=_blank(_("Any"), Priority.choices)
    )
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=_blank(_("Any"), Channel.choices)
    )
    category = forms.CharField(label=_("Category"), required=False, max_length=60)
    team = forms.ModelChoiceField(
        label=_("Team"), required=False, queryset=None, empty_label=_("Any")
    )
    assignee = AgentChoiceField(
        label=_("Assignee"), required=False, queryset=None, empty_label=_("Anyone")
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=50)
    created_from = forms.DateField(
        label=_("Created from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label=_("Created until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORTS)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = selectors.teams_for(user)
        self.fields["assignee"].queryset = selectors.assignable_agents()
        if self.data.get("view") == QueueView.ALL:
            # Only the "all" view shows resolved tickets when no status is chosen.
            self.fields["status"].choices = _blank(_("Any status"), Ticket.Status.choices)

    def queue_arguments(self) -> dict[str, Any]:
        """The selector's arguments from the valid fields (the invalid ones are left out)."""
        data = getattr(self, "cleaned_data", {})
        team = data.get("team")
        assignee = data.get("assignee")
        return {
            "view": data.get("view") or QueueView.MINE,
            "status": [data["status"]] if data.get("status") else None,
            "priority": data.get("priority") or None,
            "channel": data.get("channel") or None,
            "category": data.get("category") or None,
            "team": team.pk if team else None,
            "assignee": assignee.pk if assignee else None,
            "tag": data.get("tag") or None,
            "created_from": data.get("created_from"),
            "created_to": data.get("created_to"),
            "search": data.get("q") or None,
            "sort": data.get("sort") or QueueSort.UPDATED,
        }

    @property
    def page_number(self) -> int:
        return getattr(self, "cleaned_data", {}).get("page") or 1


class BulkForm(forms.Form):
    UNASSIGN = "unassign"
    ACTIONS = [
        (BulkAction.ASSIGN, BulkAction.LABELS[BulkAction.ASSIGN]),
        (UNASSIGN, _("Unassign")),
        (BulkAction.SET_STATUS, BulkAction.LABELS[BulkAction.SET_STATUS]),
        (BulkAction.ADD_TAG, BulkAction.LABELS[BulkAction.ADD_TAG]),
        (BulkAction.CLOSE, BulkAction.LABELS[BulkAction.CLOSE]),
    ]

    tickets = TicketIdsField(
        label=_("Tickets"), error_messages={"required": _("Select at least one ticket.")}
    )
    action = forms.ChoiceField(label=_("Action"), choices=_blank(_("Choose an action…"), ACTIONS))
    assignee = AgentChoiceField(
        label=_("Agent"), required=False, queryset=None, empty_label=_("Choose an agent…")
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=_blank(
            _("Choose a status…"),
            [
                (value, label)
                for value, label in Ticket.Status.choices
                if value != Ticket.Status.NEW
            ],
        ),
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=50)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its fields share names with the filters' on the queue page, not their ids.
        kwargs.setdefault("auto_id", "bulk_%s")
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.assignable_agents()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        needed = {
            BulkAction.ASSIGN: ("assignee", _("Choose the agent to assign the tickets to.")),
            BulkAction.SET_STATUS: ("status", _("Choose the status to set.")),
            BulkAction.ADD_TAG: ("tag", _("Write the tag to add.")),
        }
        if action in needed:
            field, message = needed[action]
            if not data.get(field):
                self.add_error(field, message)
        return data

    def service_arguments(self) -> dict[str, Any]:
        """`action` and `value` for services.tickets_bulk_apply."""
        action = self.cleaned_data["action"]
        if action == self.UNASSIGN:
            return {"action": BulkAction.ASSIGN, "value": None}
        value = {
            BulkAction.ASSIGN: self.cleaned_data.get("assignee"),
            BulkAction.SET_STATUS: self.cleaned_data.get("status"),
            BulkAction.ADD_TAG: self.cleaned_data.get("tag"),
        }.get(action)
        return {"action": action, "value": value}


class TicketNewForm(forms.Form):
    """A ticket taken on the phone or in person: for a customer found by email or id,
    or for a new one created on the spot."""

    customer = forms.CharField(
        label=_("Customer"),
        required=False,
        max_length=254,
        help_text=_("The customer's email address or number. Leave empty to create one below."),
    )
    new_customer_name = forms.CharField(label=_("Name"), required=False, max_length=200)
    new_customer_email = forms.EmailField(label=_("Email"), required=False)
    new_customer_phone = forms.CharField(label=_("Phone"), required=False, max_length=40)
    subject = forms.CharField(label=_("Subject"), max_length=250)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What the customer told you, in their words."),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.PHONE)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL
    )
    category = forms.CharField(label=_("Category"), required=False, max_length=60)
    team = forms.ModelChoiceField(label=_("Team"), required=False, queryset=None)
    assignee = AgentChoiceField(
        label=_("Assignee"),
        required=False,
        queryset=None,
        help_text=_("Leave empty: the team's auto-assignment picks an available agent."),
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=500, help_text=_("Separated by commas.")
    )

    def __init__(self, *args: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = selectors.teams_for(user)
        self.fields["assignee"].queryset = selectors.assignable_agents()

    def clean_customer(self) -> Customer | None:
        text = self.cleaned_data["customer"].strip()
        if not text:
            return None
        if text.isdigit():
            customers = Customer.objects.filter(pk=int(text))
        else:
            customers = Customer.objects.filter(email__iexact=text)
        found = list(customers[:2])
        if not found:
            raise ValidationError(_("No customer has this email or number."))
        if len(found) > 1:
            raise ValidationError(
                _("Several customers share this email: enter the customer's number instead.")
            )
        return found[0]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        new_customer_named = data.get("new_customer_name", "").strip()
        if "customer" in data and data["customer"] is None and not new_customer_named:
            self.add_error(
                "customer",
                _("Enter an existing customer's email or number, or a new customer's name."),
            )
        return data

    @property
    def new_customer_fields(self) -> dict[str, str] | None:
        """customer_create's arguments when the ticket is for a new customer."""
        if self.cleaned_data.get("customer") is not None:
            return None
        return {
            "name": self.cleaned_data["new_customer_name"].strip(),
            "email": self.cleaned_data["new_customer_email"],
            "phone": self.cleaned_data["new_customer_phone"].strip(),
        }

    def ticket_fields(self) -> dict[str, Any]:
        """ticket_create's arguments, but the customer and the agent."""
        data = self.cleaned_data
        return {
            "subject": data["subject"],
            "body": data["description"],
            "channel": data["channel"],
            "priority": data["priority"],
            "category": data["category"],
            "team": data["team"],
            "assignee": data["assignee"],
            "tags": [name.strip() for name in data["tags"].split(",") if name.strip()],
        }


class AvailabilityForm(forms.Form):
    available = forms.BooleanField(required=False)
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class PageForm(forms.Form):
    page = forms.IntegerField(required=False, min_value=1)
