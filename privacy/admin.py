"""The privacy actions on the Customer admin. Customers must not know about privacy, so
this app replaces the registered Customer admin with a subclass that adds them; and the
erasure log, read-only."""

import json
import logging

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from customers.admin import CustomerAdmin, ReadOnlyAdminMixin, apply_service_to_each
from customers.models import Customer

from . import services
from .forms import ErasureForm
from .models import ErasureRecord

logger = logging.getLogger(__name__)

# One JSON file holds every selected customer's data; past this many, export in parts.
MAX_EXPORTED = 100


def _json_download(payload: dict, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(payload, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


admin.site.unregister(Customer)


@admin.register(Customer)
class PrivacyCustomerAdmin(CustomerAdmin):
    actions = (*CustomerAdmin.actions, "export_personal_data", "erase_personal_data")

    def has_export_personal_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.export_personal_data")

    def has_erase_personal_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.erase_personal_data")

    @admin.action(
        description=gettext_lazy("Export personal data (JSON)"),
        permissions=["export_personal_data"],
    )
    def export_personal_data(
        self, request: HttpRequest, queryset: QuerySet[Customer]
    ) -> HttpResponse | None:
        customers = list(queryset.order_by("pk")[: MAX_EXPORTED + 1])
        if len(customers) > MAX_EXPORTED:
            self.message_user(
                request,
                _("Select at most %(count)d customers to export at once.")
                % {"count": MAX_EXPORTED},
                messages.ERROR,
            )
            return None
        exports = [services.customer_export(customer=customer) for customer in customers]
        logger.info(
            "%s exported the personal data of customers %s",
            request.user.get_username(),
            [customer.pk for customer in customers],
        )
        if len(exports) == 1:
            return _json_download(exports[0], f"customer-{customers[0].pk}.json")
        return _json_download(
            {"format": services.EXPORT_FORMAT, "customers": exports},
            f"customers-{timezone.localdate():%Y-%m-%d}.json",
        )

    @admin.action(
        description=gettext_lazy("Erase personal data"), permissions=["erase_personal_data"]
    )
    def erase_personal_data(
        self, request: HttpRequest, queryset: QuerySet[Customer]
    ) -> TemplateResponse | None:
        """Django's intermediate-page pattern (like delete_selected): the first POST
        shows what will be erased and asks why; the second, with post=yes, erases."""
        form = ErasureForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            apply_service_to_each(
                self,
                request,
                queryset,
                lambda customer: services.customer_erase(
                    customer=customer, actor=request.user, reason=reason
                ),
                lambda count: (
                    ngettext(
                        "The personal data of %(count)d customer was erased.",
                        "The personal data of %(count)d customers was erased.",
                        count,
                    )
                    % {"count": count}
                ),
            )
            return None
        customers = list(queryset.order_by("pk"))
        erased = set(
            ErasureRecord.objects.filter(
                kind=ErasureRecord.Kind.REQUEST, customer_pk__in=[c.pk for c in customers]
            ).values_list("customer_pk", flat=True)
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Erase personal data"),
            "opts": self.model._meta,
            "customers": [(customer, customer.pk in erased) for customer in customers],
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "privacy/erase_confirmation.html", context)


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "customer_pk", "actor_name", "reason", "counts")
    list_filter = ("kind",)
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "kind",
        "customer",
        "customer_pk",
        "external_id_hash",
        "actor",
        "actor_name",
        "reason",
        "cutoff",
        "counts",
    )
    readonly_fields = fields
    list_select_related = ("customer", "actor")
