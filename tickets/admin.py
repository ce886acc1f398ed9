"""Admin for tickets, their conversation and audit trail, teams and tags.

A ticket's lifecycle (status, timestamps, SLA clocks) moves only through
tickets.services: the fields are read-only here and the "Solve", "Close" and
"Reopen" actions call the services, so every change leaves its audit event."""

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customers.admin import ReadOnlyAdminMixin, apply_service_to_each, take_saved

from . import services
from .models import (
    BusinessCalendar,
    CannedReply,
    Holiday,
    Message,
    Notification,
    SLAPolicy,
    Tag,
    Team,
    Ticket,
    TicketEvent,
    WorkingHours,
)

LIFECYCLE_FIELDS = (
    "status",
    "created_at",
    "first_response_at",
    "solved_at",
    "solved_by",
    "closed_at",
    "reopen_count",
)
SLA_FIELDS = (
    "first_response_due_at",
    "first_response_breached",
    "resolution_due_at",
    "resolution_breached",
    "sla_paused_at",
)
# Fields without a service verb of their own: saved as they are.
DESCRIPTIVE_FIELDS = ("subject", "customer", "channel", "category", "external_id", "do_not_survey")
# Fields changed through a service verb, which writes the audit event.
EDITABLE_RELATIONS = ("priority", "team", "assignee", "tags")


class TicketReferenceSearchMixin:
    """Also find rows by ticket reference: "T-000123", "t123" or "123"."""

    reference_lookup = "pk"

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        ticket_id = Ticket.id_from_reference(search_term)
        if ticket_id is not None:
            results |= queryset.filter(**{self.reference_lookup: ticket_id})
        return results, may_have_duplicates


class TicketAdminForm(forms.ModelForm):
    body = forms.CharField(
        label=_("first message"),
        help_text=_("What the customer wrote, if you open the ticket on their behalf."),
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
    )

    class Meta:
        model = Ticket
        # The admin narrows these to the fields of the page (add or change).
        fields = (*DESCRIPTIVE_FIELDS, *EDITABLE_RELATIONS)

    def clean(self) -> dict:
        cleaned = super().clean()
        assignee, team = cleaned.get("assignee"), cleaned.get("team")
        if assignee and team and not team.members.filter(pk=assignee.pk).exists():
            self.add_error(
                "assignee",
                _("%(agent)s is not a member of team %(team)s.")
                % {"agent": assignee.get_username(), "team": team.name},
            )
        return cleaned


class MessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Message
    fields = ("created_at", "kind", "from_customer", "author_agent", "body")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("author_agent")


class TicketEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TicketEvent
    fields = ("created_at", "kind", "actor", "from_value", "to_value")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketEvent]:
        return super().get_queryset(request).select_related("actor")


@admin.register(Ticket)
class TicketAdmin(TicketReferenceSearchMixin, admin.ModelAdmin):
    form = TicketAdminForm
    list_display = (
        "reference",
        "subject",
        "customer",
        "status",
        "priority",
        "channel",
        "category",
        "team",
        "assignee",
        "created_at",
        "first_response_at",
        "solved_at",
    )
    list_display_links = ("reference", "subject")
    list_filter = (
        "status",
        "priority",
        "channel",
        "team",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        "category",
        "customer__segment",
        "first_response_breached",
        "resolution_breached",
    )
    list_select_related = ("customer", "team", "assignee")
    search_fields = ("subject", "customer__name", "customer__email", "external_id")
    autocomplete_fields = ("customer", "team", "assignee", "tags")
    date_hierarchy = "created_at"
    inlines = (MessageInline, TicketEventInline)
    actions = ("solve", "close", "reopen")
    add_fieldsets = (
        (None, {"fields": ("customer", "subject", "body", "channel", "priority", "category")}),
        (_("Assignment"), {"fields": ("team", "assignee", "tags")}),
    )
    fieldsets = (
        (
            None,
            {"fields": ("reference", "subject", "customer", "channel", "priority", "category")},
        ),
        (_("Assignment"), {"fields": ("team", "assignee", "tags")}),
        (_("Lifecycle"), {"fields": LIFECYCLE_FIELDS}),
        (_("Service level"), {"fields": ("sla_policy", *SLA_FIELDS)}),
        (
            _("Other"),
            {"fields": ("external_id", "do_not_survey", "created_by", "updated_at")},
        ),
    )
    readonly_fields = (
        "reference",
        *LIFECYCLE_FIELDS,
        "sla_policy",
        *SLA_FIELDS,
        "created_by",
        "updated_at",
    )

    @admin.display(description=_("reference"), ordering="id")
    def reference(self, ticket: Ticket) -> str:
        return ticket.reference

    def get_fieldsets(self, request: HttpRequest, obj: Ticket | None = None):
        return self.fieldsets if obj else self.add_fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Ticket | None = None):
        if obj is not None and obj.status == Ticket.Status.CLOSED:
            # A closed ticket is history: the services refuse every change to it.
            return [field for _name, options in self.fieldsets for field in options["fields"]]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Ticket, form, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            # Tags are set by save_related() once the ticket exists.
            ticket = services.ticket_create(
                customer=data["customer"],
                subject=data["subject"],
                body=data.get("body", ""),
                channel=data["channel"],
                priority=data["priority"],
                category=data.get("category", ""),
                team=data.get("team"),
                assignee=data.get("assignee"),
                created_by=request.user,
            )
            take_saved(obj, ticket)
            return
        descriptive = [name for name in DESCRIPTIVE_FIELDS if name in form.changed_data]
        if descriptive:
            obj.save(update_fields=[*descriptive, "updated_at"])
        # The services reload the ticket in place, so the wanted values come from the form.
        if "priority" in form.changed_data:
            services.ticket_set_priority(ticket=obj, priority=data["priority"], actor=request.user)
        if {"team", "assignee"} & set(form.changed_data):
            services.ticket_assign(
                ticket=obj, assignee=data["assignee"], team=data["team"], actor=request.user
            )

    @admin.action(description=_("Solve"), permissions=["change"])
    def solve(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        apply_service_to_each(
            self,
            request,
            queryset,
            lambda ticket: services.ticket_solve(ticket=ticket, actor=request.user),
            lambda count: (
                ngettext("%(count)d ticket solved.", "%(count)d tickets solved.", count)
                % {"count": count}
            ),
        )

    @admin.action(description=_("Close"), permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        apply_service_to_each(
            self,
            request,
            queryset,
            lambda ticket: services.ticket_close(ticket=ticket, actor=request.user),
            lambda count: (
                ngettext("%(count)d ticket closed.", "%(count)d tickets closed.", count)
                % {"count": count}
            ),
        )

    @admin.action(description=_("Reopen"), permissions=["change"])
    def reopen(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> None:
        apply_service_to_each(
            self,
            request,
            queryset,
            lambda ticket: services.ticket_reopen(ticket=ticket, actor=request.user),
            lambda count: (
                ngettext("%(count)d ticket reopened.", "%(count)d tickets reopened.", count)
                % {"count": count}
            ),
        )


@admin.register(Message)
class MessageAdmin(TicketReferenceSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Replies and notes are written from the desk through the services."""

    reference_lookup = "ticket_id"
    list_display = ("ticket", "kind", "from_customer", "author_agent", "excerpt", "created_at")
    list_filter = ("kind", "from_customer", ("author_agent", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("ticket", "author_agent")
    search_fields = ("body", "ticket__subject")
    date_hierarchy = "created_at"

    @admin.display(description=_("body"))
    def excerpt(self, message: Message) -> str:
        return Truncator(message.body).chars(80)


@admin.register(TicketEvent)
class TicketEventAdmin(TicketReferenceSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    reference_lookup = "ticket_id"
    list_display = ("ticket", "kind", "actor", "from_value", "to_value", "created_at")
    list_filter = ("kind", ("actor", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("ticket", "actor")
    search_fields = ("ticket__subject", "from_value", "to_value")
    date_hierarchy = "created_at"


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "lead", "member_count", "ticket_count")
    list_select_related = ("lead",)
    search_fields = ("name",)
    autocomplete_fields = ("lead", "members")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Count("members", distinct=True),
                ticket_total=Count("tickets", distinct=True),
            )
        )

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, team: Team) -> int:
        return team.member_total

    @admin.display(description=_("tickets"), ordering="ticket_total")
    def ticket_count(self, team: Team) -> int:
        return team.ticket_total


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "ticket_count")
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(ticket_total=Count("tickets"))

    @admin.display(description=_("tickets"), ordering="ticket_total")
    def ticket_count(self, tag: Tag) -> int:
        return tag.ticket_total


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0
    # A business calendar without working hours would make every SLA clock fail.
    min_num = 1


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "time_zone")
    search_fields = ("name",)
    inlines = (WorkingHoursInline, HolidayInline)


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "priority",
        "team",
        "calendar",
        "first_response_minutes",
        "resolution_minutes",
    )
    list_filter = ("priority", "team", "calendar")
    list_select_related = ("team", "calendar")
    search_fields = ("name", "team__name")
    autocomplete_fields = ("team", "calendar")


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "updated_at")
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("owner",)
    search_fields = ("title", "body")
    autocomplete_fields = ("owner",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Notifications are raised by the services (SLA breaches, assignments, follow-ups)."""

    list_display = ("user", "kind", "ticket", "text", "created_at", "read_at")
    list_filter = ("kind", ("user", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("user", "ticket")
    search_fields = ("text", "user__username")
    date_hierarchy = "created_at"
