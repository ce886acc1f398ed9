"""The agent's queue, its bulk actions, the new-ticket page, availability and
notifications. Each view parses a form, calls one service (or selector) and answers."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from customers.selectors import customer_get, customer_list
from customers.services import customer_create
from cxm.lib.exceptions import ApplicationError

from .. import selectors, services
from ..forms.queue import (
    PAGE_SIZE,
    AvailabilityForm,
    BulkForm,
    PageForm,
    QueueFilterForm,
    TicketNewForm,
)
from ..models import Ticket

# How many refusals a bulk action's message names before it just counts the rest.
_REFUSALS_SHOWN = 10
_CUSTOMER_MATCHES_SHOWN = 10


def _back(request: HttpRequest, target: str | None) -> HttpResponseRedirect:
    """Back to the page the form was on (filters kept), if it is one of ours."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return redirect("desk:queue")


@require_safe
@permission_required("tickets.view_ticket", raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    filters = QueueFilterForm(request.GET or None, user=request.user)
    filters.is_valid()  # a bad field is shown with its error and left out of the query
    arguments = filters.queue_arguments()
    page = filters.page_number
    tickets, has_next = selectors.page_of(
        selectors.queue_tickets(user=request.user, **arguments), page=page, page_size=PAGE_SIZE
    )
    context = {
        "filters": filters,
        "current_view": arguments["view"],
        "tickets": tickets,
        "page": page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if has_next else None,
        "bulk": BulkForm(initial={"next": request.get_full_path()}),
    }
    return render(request, "tickets/queue.html", context)


def _bulk_report(request: HttpRequest, result: services.BulkResult) -> None:
    count = len(result.changed)
    messages.success(
        request,
        ngettext("%(count)d ticket changed.", "%(count)d tickets changed.", count)
        % {"count": count},
    )
    if result.refused:
        named = [f"{ticket.reference}: {reason}" for ticket, reason in result.refused]
        hidden = len(named) - _REFUSALS_SHOWN
        text = "; ".join(named[:_REFUSALS_SHOWN])
        if hidden > 0:
            text += " " + ngettext("(and %(count)d more)", "(and %(count)d more)", hidden) % {
                "count": hidden
            }
        messages.warning(request, _("Not changed: %(refusals)s") % {"refusals": text})


@require_POST
@permission_required("tickets.change_ticket", raise_exception=True)
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _back(request, request.POST.get("next"))
    # Only the tickets this user may see; any other id is ignored.
    tickets = selectors.tickets_visible_to(request.user).filter(pk__in=form.cleaned_data["tickets"])
    result = services.tickets_bulk_apply(
        tickets=tickets.order_by("pk"), actor=request.user, **form.service_arguments()
    )
    _bulk_report(request, result)
    return _back(request, form.cleaned_data["next"])


_SERVICE_FIELDS = {
    "name": "new_customer_name",
    "email": "new_customer_email",
    "phone": "new_customer_phone",
    "body": "description",
}


def _show_service_errors(form: TicketNewForm, error: ValidationError | ApplicationError) -> None:
    if isinstance(error, ApplicationError):
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return
    for field, field_messages in error.message_dict.items():
        field = _SERVICE_FIELDS.get(field, field)
        form.add_error(field if field in form.fields else None, field_messages)


@transaction.atomic
def _create_ticket(form: TicketNewForm, agent) -> Ticket:
    customer = form.cleaned_data["customer"] or customer_create(**form.new_customer_fields)
    return services.ticket_create(customer=customer, created_by=agent, **form.ticket_fields())


@permission_required("tickets.add_ticket", raise_exception=True)
def ticket_new(request: HttpRequest) -> HttpResponse:
    form = TicketNewForm(
        request.POST if request.method == "POST" else None,
        user=request.user,
        initial={"customer": request.GET.get("customer", "")},
    )
    if request.method == "POST" and form.is_valid():
        if form.new_customer_fields and not request.user.has_perm("customers.add_customer"):
            form.add_error("new_customer_name", _("You may not create customers."))
        else:
            try:
                ticket = _create_ticket(form, request.user)
            except (ValidationError, ApplicationError) as error:
                _show_service_errors(form, error)
            else:
                messages.success(
                    request, _("Ticket %(reference)s created.") % {"reference": ticket.reference}
                )
                return redirect("desk:ticket_detail", ticket.pk)
    find = request.GET.get("find", "").strip()
    matches = customer_list(search=find)[:_CUSTOMER_MATCHES_SHOWN] if find else []
    chosen = request.GET.get("customer", "")
    context = {
        "form": form,
        "find": find,
        "customer_matches": matches,
        "chosen_customer": customer_get(int(chosen)) if chosen.isdigit() else None,
    }
    return render(request, "tickets/ticket_new.html", context)


@require_POST
def availability(request: HttpRequest) -> HttpResponse:
    form = AvailabilityForm(request.POST)
    form.is_valid()
    available = form.cleaned_data.get("available", False)
    moved = services.agent_set_availability(
        agent=request.user, available=available, actor=request.user
    )
    if available:
        messages.success(request, _("You are available: new tickets can be assigned to you."))
    else:
        messages.success(
            request,
            ngettext(
                "You are away. %(count)d ticket was handed over.",
                "You are away. %(count)d tickets were handed over.",
                moved,
            )
            % {"count": moved},
        )
    return _back(request, form.cleaned_data.get("next"))


@require_safe
def notifications(request: HttpRequest) -> HttpResponse:
    form = PageForm(request.GET)
    form.is_valid()
    page = form.cleaned_data.get("page") or 1
    rows, has_next = selectors.page_of(
        selectors.notification_list(user=request.user), page=page, page_size=PAGE_SIZE
    )
    context = {
        "notifications": rows,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if has_next else None,
    }
    return render(request, "tickets/notifications.html", context)


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    count = services.notifications_mark_read(user=request.user)
    messages.success(
        request,
        ngettext(
            "%(count)d notification marked as read.",
            "%(count)d notifications marked as read.",
            count,
        )
        % {"count": count},
    )
    return redirect(reverse("desk:notifications"))


urlpatterns = [
    path("", queue, name="queue"),
    path("bulk/", bulk, name="bulk"),
    path("tickets/new/", ticket_new, name="ticket_new"),
    path("availability/", availability, name="availability"),
    path("notifications/", notifications, name="notifications"),
    path("notifications/read/", notifications_read, name="notifications_read"),
]
