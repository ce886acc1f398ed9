"""The customer profile form: what agents may write about a customer."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.models import fields_for_model, model_to_dict
from django.utils.translation import gettext_lazy as _

from cxm.lib.exceptions import ApplicationError

from .models import Customer

PROFILE_FIELDS = (
    "name",
    "email",
    "phone",
    "language",
    "segment",
    "account_owner",
    "external_id",
    "survey_opt_out",
)


class CustomerForm(forms.Form):
    """The profile fields as the model defines them, plus the lifecycle stage.

    A plain form, not a ModelForm: the service validates the customer (and says which
    external id is taken, in words an agent can act on), and moves the stage through
    the lifecycle rules rather than writing it to the row."""

    def __init__(self, *args: Any, customer: Customer | None = None, **kwargs: Any) -> None:
        if customer is not None:
            kwargs.setdefault(
                "initial",
                {**model_to_dict(customer, fields=PROFILE_FIELDS), "stage": customer.stage},
            )
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(Customer, fields=PROFILE_FIELDS))
        self.fields["stage"] = forms.ChoiceField(
            label=_("Lifecycle stage"),
            choices=Customer.Stage.choices,
            initial=Customer.Stage.LEAD,
        )
        owner = self.fields["account_owner"]
        owner.queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__isnull=False)
            .distinct()
            .order_by("first_name", "last_name", "username")
        )
        owner.label_from_instance = lambda user: user.display_name
        self.order_fields([*PROFILE_FIELDS[:5], "stage", *PROFILE_FIELDS[5:]])

    def service_arguments(self) -> dict[str, Any]:
        """The keyword arguments of customer_create / customer_update."""
        return {name: self.cleaned_data[name] for name in (*PROFILE_FIELDS, "stage")}


def add_service_error(form: forms.Form, error: ApplicationError | ValidationError) -> None:
    """Show a service's refusal on the field it names, or above the form."""
    if isinstance(error, ApplicationError):
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        known = field in form.fields and field != NON_FIELD_ERRORS
        form.add_error(field if known else None, errors)
