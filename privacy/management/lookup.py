"""Finding the customer a privacy command names, with errors an operator can act on."""

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from customers.models import Customer

from ..services import erasure_for_external_id


def customer_by_external_id(external_id: str) -> Customer:
    """The customer with this external id; a CommandError (exit code 1) that says
    whether it was erased before or never existed."""
    external_id = external_id.strip()
    customer = Customer.objects.filter(external_id=external_id).first() if external_id else None
    if customer is not None:
        return customer
    erasure = erasure_for_external_id(external_id)
    if erasure is not None:
        raise CommandError(
            _("The customer with the external id “%(id)s” was erased on %(date)s: nothing is held.")
            % {
                "id": external_id,
                "date": date_format(timezone.localtime(erasure.created_at), "DATETIME_FORMAT"),
            }
        )
    raise CommandError(_("No customer has the external id “%(id)s”.") % {"id": external_id})
