"""The public survey pages (no login): answer, thank-you, unsubscribe.

The token in the URL is the only key. A GET never records anything: corporate mail
scanners open every link in an email before the customer does, so `?score=9` only
preselects the answer and the customer's tap on "Send" records it. Every page speaks
the invitation's language unless ?lang= asks for another, and never shows a trace.
"""

import re
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import get_language_info
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_safe

from cxm.lib.exceptions import ApplicationError
from tickets.forms.ticket import add_service_error

from . import selectors, services, throttle
from .forms import SurveyAnswerForm, can_send_after_first, initial_answers
from .models import Invitation, Question, Response, Survey

# secrets.token_urlsafe(32) gives 43 characters; anything else is not one of ours.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,64}")
ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")  # RFC 8058
SURVEY_UNUSED = tuple(
    f"survey__{field.attname}"
    for field in Survey._meta.concrete_fields
    if field.attname not in ("id", "questions_revision")
)


def _language_codes() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def _language(request: HttpRequest, invitation: Invitation | None = None) -> str:
    requested = request.POST.get("lang") or request.GET.get("lang")
    if requested in _language_codes():
        return requested
    if invitation is not None and invitation.language in _language_codes():
        return invitation.language
    return translation.get_language() or settings.LANGUAGE_CODE


def _language_links(request: HttpRequest, language: str) -> list[dict]:
    """The language switch: plain links, keeping a clicked score."""
    links = []
    for code in _language_codes():
        query = {"lang": code}
        if request.GET.get("score"):
            query["score"] = request.GET["score"]
        links.append(
            {
                "code": code,
                "name": get_language_info(code)["name_local"],
                "url": f"{request.path}?{urlencode(query)}",
                "current": code == language,
            }
        )
    return links


def _page(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    language: str,
    status: int = 200,
) -> HttpResponse:
    with translation.override(language):
        response = render(
            request,
            template,
            {
                "language": language,
                "language_links": _language_links(request, language),
                "company_name": settings.CXM_COMPANY_NAME,
                **context,
            },
            status=status,
        )
    response["Content-Language"] = language
    # Personal answers behind a secret link: keep them out of indexes and caches.
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _not_found(request: HttpRequest, invitation: Invitation | None = None) -> HttpResponse:
    return _page(
        request, "surveys/not_found.html", {}, language=_language(request, invitation), status=404
    )


def _too_many(request: HttpRequest, invitation: Invitation, retry_after: int) -> HttpResponse:
    response = _page(
        request,
        "surveys/rate_limited.html",
        {"invitation": invitation},
        language=_language(request, invitation),
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def _answered(invitation: Invitation) -> bool:
    """Whether the customer's answer is stored (known already when the response was read
    with the invitation)."""
    if Invitation.response.is_cached(invitation):
        return getattr(invitation, "response", None) is not None
    return Response.objects.filter(invitation=invitation).exists()


def _closed(request: HttpRequest, invitation: Invitation, language: str) -> HttpResponse:
    return _page(
        request,
        "surveys/closed.html",
        {"invitation": invitation, "answered": _answered(invitation)},
        language=language,
        status=410,
    )


def _invitation(token: str, *related: str) -> Invitation | None:
    """The invitation of this token, with the `related` objects the page needs read in
    the same query (others load when first used). Of its survey, only what the answer
    page needs to find its questions (survey_questions)."""
    if not TOKEN_RE.fullmatch(token):
        return None
    invitations = Invitation.objects.select_related(*related).order_by()
    if "survey" in related:
        invitations = invitations.defer(*SURVEY_UNUSED)
    try:
        return invitations.get(token=token)
    except Invitation.DoesNotExist:
        return None


def _sent_invitation(token: str, *related: str) -> Invitation | None:
    """Only an emailed invitation has a page; scheduled, cancelled or skipped ones do
    not exist for the customer."""
    invitation = _invitation(token, *related)
    if invitation is None or invitation.status != Invitation.Status.SENT:
        return None
    return invitation


@login_not_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    # The survey comes in the same query as the invitation: its questions revision says
    # whether this process's copy of the questions is current. A submission needs
    # nothing else here (the service reads what it stores); the page shows the ticket
    # and the answers given so far.
    posted = request.method == "POST"
    invitation = _sent_invitation(token, "survey", *(() if posted else ("ticket", "response")))
    if invitation is None:
        return _not_found(request)
    language = _language(request, invitation)
    if not invitation.is_open_for_answers:
        return _closed(request, invitation, language)
    questions = selectors.survey_questions(survey=invitation.survey)
    if posted:
        return _answer_post(request, invitation, questions, language)
    response = getattr(invitation, "response", None)
    if response is not None:
        prefetch_related_objects([response], "answers__question")
    initial = initial_answers(questions, response=response, score=request.GET.get("score"))
    form = SurveyAnswerForm(initial=initial, questions=questions, language=language)
    return _answer_page(request, invitation, form, language, response=response)


def _answer_post(
    request: HttpRequest, invitation: Invitation, questions: list[Question], language: str
) -> HttpResponse:
    verdict = throttle.survey_post_allowed(request, token=invitation.token)
    if not verdict.allowed:
        return _too_many(request, invitation, verdict.retry_after)
    with translation.override(language):  # error messages in the page's language
        form = SurveyAnswerForm(request.POST, questions=questions, language=language)
        if form.is_valid():
            try:
                services.response_record(
                    invitation=invitation, answers=form.answers(), language=language
                )
            except ValidationError as error:
                add_service_error(form, error)
            except ApplicationError:  # it closed while the customer was typing
                return _closed(request, invitation, language)
            else:
                thanks = reverse("surveys:thanks", args=[invitation.token])
                return redirect(f"{thanks}?{urlencode({'lang': language})}")
    return _answer_page(request, invitation, form, language, response=None)


def _answer_page(
    request: HttpRequest,
    invitation: Invitation,
    form: SurveyAnswerForm,
    language: str,
    *,
    response: Response | None,
) -> HttpResponse:
    with translation.override(language):
        items = form.question_items()
    first_chosen = bool(items) and any(option.checked for option in items[0].options)
    context = {
        "invitation": invitation,
        # Read here, not in the template (a refused submission has not read it yet).
        "ticket": invitation.ticket,
        "form": form,
        "items": items,
        "response": response,
        "send_after_first": first_chosen and can_send_after_first(form.questions),
    }
    return _page(request, "surveys/answer.html", context, language=language)


@login_not_required
@never_cache
@require_safe
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _sent_invitation(token, "response")
    if invitation is None:
        return _not_found(request)
    context = {"invitation": invitation, "answered": _answered(invitation)}
    return _page(request, "surveys/thanks.html", context, language=_language(request, invitation))


def _unsubscribe_now(
    request: HttpRequest, invitation: Invitation, *, one_click: bool = False
) -> HttpResponse | None:
    verdict = throttle.survey_post_allowed(request, token=invitation.token, per_ip=not one_click)
    if not verdict.allowed:
        return _too_many(request, invitation, verdict.retry_after)
    services.customer_unsubscribe(invitation=invitation)
    return None


@csrf_protect
def _unsubscribe_page(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    language = _language(request, invitation)
    if request.method == "POST":
        refused = _unsubscribe_now(request, invitation)
        if refused is not None:
            return refused
        page = reverse("surveys:unsubscribe", args=[invitation.token])
        return redirect(f"{page}?{urlencode({'lang': language})}")
    context = {"invitation": invitation, "unsubscribed": invitation.customer.survey_opt_out}
    return _page(request, "surveys/unsubscribe.html", context, language=language)


@login_not_required
@never_cache
@csrf_exempt  # only for RFC 8058 one-click POSTs; every other POST goes through csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Any invitation's token unsubscribes its customer, even long after it expired:
    that wish is always honoured. Mail providers POST `List-Unsubscribe=One-Click`
    (RFC 8058) from their own servers, with no cookie or CSRF token."""
    invitation = _invitation(token, "customer")
    if invitation is None:
        return _not_found(request)
    if request.method == "POST" and request.POST.get(ONE_CLICK_BODY[0]) == ONE_CLICK_BODY[1]:
        refused = _unsubscribe_now(request, invitation, one_click=True)
        if refused is not None:
            return refused
        context = {"invitation": invitation, "unsubscribed": True}
        language = _language(request, invitation)
        return _page(request, "surveys/unsubscribe.html", context, language=language)
    return _unsubscribe_page(request, invitation)
