"""The ticket page's forms: reply, internal note, canned reply choice and properties."""

from typing import Any

from django import forms
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from cxm.lib.exceptions import ApplicationError

from .. import selectors
from ..models import CannedReply, Priority, Team, Ticket


def add_service_error(form: forms.Form, error: ApplicationError | ValidationError) -> None:
    """Show a service's refusal on the form: on the field it names when the form has
    that field, otherwise above the form."""
    if isinstance(error, ApplicationError):
        field = error.field if error.field in form.fields else None
        form.add_error(field, error.message)
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        target = field if field in form.fields else None
        if field == NON_FIELD_ERRORS:
            target = None
        form.add_error(target, errors)


class ReplyForm(forms.Form):
    """A public reply: emailed to the customer."""

    prefix = "reply"

    body = forms.CharField(
        label=_("Your reply"),
        widget=forms.Textarea(attrs={"rows": 6}),
        strip=False,
    )


class NoteForm(forms.Form):
    """An internal note: only agents see it."""

    prefix = "note"

    body = forms.CharField(
        label=_("Your note"),
        widget=forms.Textarea(attrs={"rows": 3}),
        strip=False,
        help_text=_("Only agents see notes; the customer never receives them."),
    )


class CannedChoiceForm(forms.Form):
    """The canned reply chosen to prefill the reply (a GET: ?canned=<id>)."""

    canned = forms.ModelChoiceField(queryset=CannedReply.objects.none())

    def __init__(self, *args: Any, canned_replies: QuerySet[CannedReply], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["canned"].queryset = canned_replies


class AgentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: AbstractBaseUser) -> str:
        return obj.display_name


class TicketPropertiesForm(forms.Form):
    """Status, priority, assignee, team and tags. Each field also posts the value the
    agent saw, so only what they changed is applied: a colleague's change made
    meanwhile to another property is not overwritten."""

    status = forms.ChoiceField(label=_("Status"), choices=Ticket.Status.choices)
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)
    assignee = AgentChoiceField(
        label=_("Assignee"), queryset=None, required=False, empty_label=_("Unassigned")
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("No team")
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )
    do_not_survey = forms.BooleanField(
        label=_("Don't survey the customer about this ticket"), required=False
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "status": ticket.status,
                "priority": ticket.priority,
                "assignee": ticket.assignee_id,
                "team": ticket.team_id,
                "tags": ", ".join(tag.name for tag in ticket.tags.all()),
                "do_not_survey": ticket.do_not_survey,
            },
        )
        super().__init__(*args, prefix="properties", **kwargs)
        self.fields["assignee"].queryset = selectors.assignable_agents()
        self.fields["team"].queryset = Team.objects.order_by("name")
        for field in self.fields.values():
            field.show_hidden_initial = True
            if isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs["class"] = "form-check-input"
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs["class"] = f"{css} {css}-sm"

    def clean_tags(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["tags"].split(",") if name.strip()]

    def changes(self) -> dict[str, Any]:
        """The service's keyword arguments for what the agent changed, and only that."""
        return {name: self.cleaned_data[name] for name in self.changed_data}
