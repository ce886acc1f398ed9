"""The ticket page: the conversation, reply and note forms, canned replies, properties
and the lifecycle buttons. Each POST parses a form, calls one service and redirects;
when the service refuses, the page is drawn again with the refusal on the form and
everything the agent typed still there."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from cxm.lib.exceptions import ApplicationError

from .. import selectors, services
from ..canned import PLACEHOLDERS, render_canned_reply
from ..forms.ticket import (
    CannedChoiceForm,
    NoteForm,
    ReplyForm,
    TicketPropertiesForm,
    add_service_error,
)
from ..models import Ticket

SERVICE_ERRORS = (ApplicationError, ValidationError)


def _ticket_for_action(request: HttpRequest, pk: int) -> Ticket:
    """The ticket, if this agent may see it; 404 otherwise, so its existence stays hidden."""
    ticket = selectors.ticket_get_for_action(pk, user=request.user)
    if ticket is None:
        raise Http404
    return ticket


def _error_text(error: ApplicationError | ValidationError) -> str:
    if isinstance(error, ApplicationError):
        return error.message
    return " ".join(error.messages)


def _page_url(pk: int, anchor: str = "") -> str:
    return reverse("desk:ticket_detail", args=[pk]) + (f"#{anchor}" if anchor else "")


def _page_ticket_or_404(request: HttpRequest, pk: int) -> Ticket:
    """The ticket with all the page draws. After a refused service it is read again: the
    service may have changed the caller's instance before its transaction rolled back."""
    ticket = selectors.ticket_get_for_page(pk, user=request.user)
    if ticket is None:
        raise Http404
    return ticket


def _render_page(
    request: HttpRequest,
    ticket: Ticket,
    *,
    reply_form: ReplyForm | None = None,
    note_form: NoteForm | None = None,
    properties_form: TicketPropertiesForm | None = None,
) -> HttpResponse:
    canned_replies = [
        (canned, render_canned_reply(canned.body, ticket=ticket, agent=request.user))
        for canned in selectors.canned_reply_list(user=request.user)
    ]
    context = {
        "ticket": ticket,
        "thread": ticket.messages.all(),
        "events": ticket.events.all(),
        "reply_form": reply_form or ReplyForm(),
        "note_form": note_form or NoteForm(),
        "properties_form": properties_form or TicketPropertiesForm(ticket=ticket),
        "canned_replies": canned_replies,
        "placeholders": PLACEHOLDERS,
    }
    return render(request, "tickets/ticket_detail.html", context)


@require_GET
@permission_required("tickets.view_ticket", raise_exception=True)
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The ticket page. ?canned=<id> prefills the reply with that canned reply, its
    placeholders filled for this ticket (how the page inserts one without JavaScript)."""
    ticket = _page_ticket_or_404(request, pk)
    reply_form = None
    if "canned" in request.GET:
        choice = CannedChoiceForm(
            request.GET, canned_replies=selectors.canned_reply_list(user=request.user)
        )
        if choice.is_valid():
            text = render_canned_reply(
                choice.cleaned_data["canned"].body, ticket=ticket, agent=request.user
            )
            reply_form = ReplyForm(initial={"body": text})
        else:
            messages.warning(request, _("That canned reply is not available."))
    return _render_page(request, ticket, reply_form=reply_form)


def _post_message(request: HttpRequest, pk: int, *, note: bool) -> HttpResponse:
    ticket = _ticket_for_action(request, pk)
    form = (NoteForm if note else ReplyForm)(request.POST)
    if form.is_valid():
        service = services.ticket_add_note if note else services.ticket_reply
        try:
            message = service(ticket=ticket, author=request.user, body=form.cleaned_data["body"])
        except SERVICE_ERRORS as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                _("Internal note added.")
                if note
                else _("Reply added; the customer will receive it by email."),
            )
            return redirect(_page_url(pk, f"message-{message.pk}"))
    forms = {"note_form" if note else "reply_form": form}
    return _render_page(request, _page_ticket_or_404(request, pk), **forms)


@require_POST
@permission_required("tickets.add_message", raise_exception=True)
def ticket_reply(request: HttpRequest, pk: int) -> HttpResponse:
    return _post_message(request, pk, note=False)


@require_POST
@permission_required("tickets.add_message", raise_exception=True)
def ticket_note(request: HttpRequest, pk: int) -> HttpResponse:
    return _post_message(request, pk, note=True)


@require_POST
@permission_required("tickets.change_ticket", raise_exception=True)
def ticket_properties(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _ticket_for_action(request, pk)
    form = TicketPropertiesForm(request.POST, ticket=ticket)
    if form.is_valid():
        if not form.changes():
            messages.info(request, _("Nothing was changed."))
            return redirect(_page_url(pk))
        try:
            services.ticket_update_properties(ticket=ticket, actor=request.user, **form.changes())
        except SERVICE_ERRORS as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Ticket updated."))
            if selectors.ticket_get_for_action(pk, user=request.user) is None:
                # Moved to a team this agent may not see: back to their queue.
                return redirect("desk:queue")
            return redirect(_page_url(pk))
    return _render_page(request, _page_ticket_or_404(request, pk), properties_form=form)


_TRANSITIONS = {
    "solve": (services.ticket_solve, gettext_lazy("Ticket %(reference)s solved.")),
    "reopen": (services.ticket_reopen, gettext_lazy("Ticket %(reference)s reopened.")),
    "close": (services.ticket_close, gettext_lazy("Ticket %(reference)s closed.")),
}


@require_POST
@permission_required("tickets.change_ticket", raise_exception=True)
def ticket_transition(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """The Solve, Reopen and Close buttons."""
    ticket = _ticket_for_action(request, pk)
    service, done = _TRANSITIONS[verb]
    try:
        service(ticket=ticket, actor=request.user)
    except SERVICE_ERRORS as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, str(done) % {"reference": ticket.reference})
    return redirect(_page_url(pk))


@require_POST
@permission_required("tickets.change_ticket", raise_exception=True)
def message_retry(request: HttpRequest, pk: int, message_pk: int) -> HttpResponse:
    """Send again a reply whose email failed."""
    ticket = _ticket_for_action(request, pk)
    message = selectors.ticket_message_get(ticket=ticket, message_id=message_pk)
    if message is None:
        raise Http404
    try:
        services.message_email_retry(message=message, actor=request.user)
    except SERVICE_ERRORS as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("The email will be sent again."))
    return redirect(_page_url(pk, f"message-{message_pk}"))


urlpatterns = [
    path("tickets/<int:pk>/", ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/reply/", ticket_reply, name="ticket_reply"),
    path("tickets/<int:pk>/note/", ticket_note, name="ticket_note"),
    path("tickets/<int:pk>/properties/", ticket_properties, name="ticket_properties"),
    path("tickets/<int:pk>/solve/", ticket_transition, {"verb": "solve"}, name="ticket_solve"),
    path("tickets/<int:pk>/reopen/", ticket_transition, {"verb": "reopen"}, name="ticket_reopen"),
    path("tickets/<int:pk>/close/", ticket_transition, {"verb": "close"}, name="ticket_close"),
    path(
        "tickets/<int:pk>/messages/<int:message_pk>/send-again/",
        message_retry,
        name="message_retry",
    ),
]
