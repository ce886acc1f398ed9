"""Admin for customers and their journey. The lifecycle stage is changed by the
customers services (through the actions), never by editing the fields."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cxm.lib.exceptions import ApplicationError

from . import services
from .models import Customer, CustomerEvent, LifecycleChange, Purchase

# An action over many rows reports each refusal; past this many, only a count.
MAX_REFUSALS_LISTED = 10


def apply_service_to_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    verb: Callable[[Model], Any],
    done: Callable[[int], str],
) -> None:
    """Run a service verb on each selected row, each in its own transaction, and tell the
    user how many succeeded and which were refused (and why) instead of failing them all."""
    succeeded = 0
    refusals: list[str] = []
    for instance in queryset:
        try:
            verb(instance)
        except ApplicationError as exc:
            refusals.append(f"{instance}: {exc.message}")
        except ValidationError as exc:
            refusals.append(f"{instance}: {' '.join(exc.messages)}")
        else:
            succeeded += 1
    if succeeded:
        model_admin.message_user(request, done(succeeded), messages.SUCCESS)
    for refusal in refusals[:MAX_REFUSALS_LISTED]:
        model_admin.message_user(request, refusal, messages.WARNING)
    unlisted = len(refusals) - MAX_REFUSALS_LISTED
    if unlisted > 0:
        model_admin.message_user(
            request,
            ngettext("%(count)d more was refused.", "%(count)d more were refused.", unlisted)
            % {"count": unlisted},
            messages.WARNING,
        )


def take_saved(form_instance: Model, saved: Model) -> None:
    """A create service returns its own instance; the admin goes on using the form's
    (for the log entry and the redirect), so make the form's instance the saved row."""
    form_instance.__dict__.update(saved.__dict__)


class ReadOnlyAdminMixin:
    """Audit rows are written by services; the admin only shows them."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class LifecycleChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LifecycleChange
    fields = ("occurred_at", "from_stage", "to_stage")
    readonly_fields = fields
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "email",
        "stage",
        "segment",
        "language",
        "account_owner",
        "became_customer_at",
        "churned_at",
        "created_at",
    )
    list_filter = ("stage", "segment", "language", "survey_opt_out", "account_owner")
    list_select_related = ("account_owner",)
    search_fields = ("name", "email", "phone", "external_id")
    autocomplete_fields = ("account_owner",)
    date_hierarchy = "created_at"
    ordering = ("name", "id")
    fieldsets = (
        (None, {"fields": ("name", "email", "phone", "language", "segment", "account_owner")}),
        (_("Lifecycle"), {"fields": ("stage", "became_customer_at", "churned_at")}),
        (_("Other"), {"fields": ("external_id", "survey_opt_out", "created_at", "updated_at")}),
    )
    readonly_fields = ("stage", "became_customer_at", "churned_at", "created_at", "updated_at")
    inlines = (LifecycleChangeInline,)
    actions = ("mark_as_customer", "mark_as_churned", "reactivate")

    def save_model(self, request: HttpRequest, obj: Customer, form, change: bool) -> None:
        fields = {
            name: form.cleaned_data[name]
            for name in services.CUSTOMER_EDITABLE_FIELDS
            if name in form.cleaned_data and (not change or name in form.changed_data)
        }
        if change:
            services.customer_update(customer=obj, **fields)
        else:
            take_saved(obj, services.customer_create(**fields))

    @admin.action(description=_("Mark as customer"), permissions=["change"])
    def mark_as_customer(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        apply_service_to_each(
            self,
            request,
            queryset,
            lambda customer: services.customer_become_customer(customer=customer),
            lambda count: (
                ngettext(
                    "%(count)d lead became a customer.", "%(count)d leads became customers.", count
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Mark as churned"), permissions=["change"])
    def mark_as_churned(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        apply_service_to_each(
            self,
            request,
            queryset,
            lambda customer: services.customer_churn(customer=customer),
            lambda count: (
                ngettext(
                    "%(count)d customer marked as churned.",
                    "%(count)d customers marked as churned.",
                    count,
                )
                % {"count": count}
            ),
        )

    @admin.action(description=_("Reactivate"), permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Customer]) -> None:
        apply_service_to_each(
            self,
            request,
            queryset,
            lambda customer: services.customer_reactivate(customer=customer),
            lambda count: (
                ngettext(
                    "%(count)d customer reactivated.", "%(count)d customers reactivated.", count
                )
                % {"count": count}
            ),
        )


@admin.register(LifecycleChange)
class LifecycleChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("customer", "from_stage", "to_stage", "occurred_at")
    list_filter = ("to_stage", "from_stage")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__email", "customer__external_id")
    date_hierarchy = "occurred_at"


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = ("customer", "occurred_at", "kind", "amount", "margin", "currency")
    list_filter = ("kind", "currency", "customer__segment")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__email", "customer__external_id")
    autocomplete_fields = ("customer",)
    date_hierarchy = "occurred_at"
    fields = ("customer", "occurred_at", "kind", "amount", "margin", "currency", "created_at")
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Purchase | None = None):
        # A purchase belongs to its customer for good: the services cannot move it.
        return (*self.readonly_fields, "customer") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Purchase, form, change: bool) -> None:
        if change:
            fields = {
                name: form.cleaned_data[name]
                for name in services.PURCHASE_EDITABLE_FIELDS
                if name in form.changed_data
            }
            services.purchase_update(purchase=obj, **fields)
        else:
            take_saved(
                obj,
                services.purchase_create(
                    customer=obj.customer,
                    **{name: form.cleaned_data[name] for name in services.PURCHASE_EDITABLE_FIELDS},
                ),
            )


@admin.register(CustomerEvent)
class CustomerEventAdmin(admin.ModelAdmin):
    list_display = ("customer", "kind", "channel", "occurred_at", "value")
    list_filter = ("kind", "channel", "customer__segment")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__email", "customer__external_id", "note")
    autocomplete_fields = ("customer",)
    date_hierarchy = "occurred_at"
    fields = ("customer", "channel", "kind", "occurred_at", "value", "note", "created_at")
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: CustomerEvent | None = None):
        return (*self.readonly_fields, "customer") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: CustomerEvent, form, change: bool) -> None:
        if change:
            fields = {
                name: form.cleaned_data[name]
                for name in services.EVENT_EDITABLE_FIELDS
                if name in form.changed_data
            }
            services.customer_event_update(event=obj, **fields)
        else:
            take_saved(
                obj,
                services.customer_event_create(
                    customer=obj.customer,
                    **{name: form.cleaned_data[name] for name in services.EVENT_EDITABLE_FIELDS},
                ),
            )
