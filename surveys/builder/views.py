"""The survey builder (/surveys/builder/…): admins list surveys, edit their settings,
add, reorder and translate questions, preview the email and the page in each
language, send themselves a test and run a campaign now. Every change goes through
the surveys services; these views parse, call one, and redirect."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.forms import add_service_error
from cxm import roles
from cxm.lib.exceptions import ApplicationError

from .. import selectors, services
from ..models import Invitation, Question, Survey
from .forms import MoveForm, QuestionForm, SendTestForm, SurveyForm


def may_configure_surveys(user) -> bool:
    return user.has_perm("accounts.configure_surveys") or roles.has_role(user, roles.ADMIN)


def configure_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_configure_surveys(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return checked


def _survey_or_404(pk: int) -> Survey:
    survey = selectors.survey_get(pk)
    if survey is None:
        raise Http404
    return survey


def _question_or_404(survey: Survey, question_id: int) -> Question:
    question = selectors.survey_question_get(survey=survey, question_id=question_id)
    if question is None:
        raise Http404
    return question


def _language_or_404(language: str) -> str:
    if language not in dict(settings.LANGUAGES):
        raise Http404
    return language


def _preview_languages(survey: Survey) -> list[tuple[str, str]]:
    return [
        (code, name) for code, name in settings.LANGUAGES if code in (survey.languages or [code])
    ]


def _refusal(request: HttpRequest, error: ApplicationError | ValidationError) -> None:
    text = error.message if isinstance(error, ApplicationError) else " ".join(error.messages)
    messages.error(request, text)


@require_GET
@configure_required
def survey_list(request: HttpRequest) -> HttpResponse:
    return render(request, "surveys/builder_list.html", {"surveys": selectors.survey_list()})


@require_http_methods(["GET", "POST"])
@configure_required
def survey_new(request: HttpRequest) -> HttpResponse:
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            survey = services.survey_save(**form.service_arguments())
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Survey “%(name)s” created.") % {"name": survey.name})
            return redirect("survey_builder:survey", pk=survey.pk)
    return render(request, "surveys/builder_survey.html", {"form": form, "survey": None})


@require_http_methods(["GET", "POST"])
@configure_required
def survey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    form = SurveyForm(request.POST or None, survey=survey)
    if request.method == "POST" and form.is_valid():
        try:
            survey = services.survey_save(survey=survey, **form.service_arguments())
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Survey “%(name)s” saved.") % {"name": survey.name})
            return redirect("survey_builder:survey", pk=survey.pk)
    context = {
        "form": form,
        "survey": survey,
        "questions": selectors.survey_question_list(survey=survey),
        "languages": _preview_languages(survey),
        "test_form": SendTestForm(initial={"language": request.user.language}),
        "invitation_counts": [
            (status, Invitation.Status(status).label, count)
            for status, count in selectors.survey_invitation_counts(survey=survey).items()
        ],
    }
    return render(request, "surveys/builder_survey.html", context)


def _question_page(request: HttpRequest, survey: Survey, question: Question | None) -> HttpResponse:
    form = QuestionForm(request.POST or None, survey=survey, question=question)
    if request.method == "POST" and form.is_valid():
        try:
            services.question_save(survey=survey, question=question, **form.service_arguments())
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Question saved."))
            return redirect("survey_builder:survey", pk=survey.pk)
    context = {"form": form, "survey": survey, "question": question}
    return render(request, "surveys/builder_question.html", context)


@require_http_methods(["GET", "POST"])
@configure_required
def question_new(request: HttpRequest, pk: int) -> HttpResponse:
    return _question_page(request, _survey_or_404(pk), None)


@require_http_methods(["GET", "POST"])
@configure_required
def question_edit(request: HttpRequest, pk: int, question_id: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    return _question_page(request, survey, _question_or_404(survey, question_id))


@require_POST
@configure_required
def question_move(request: HttpRequest, pk: int, question_id: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    question = _question_or_404(survey, question_id)
    form = MoveForm(request.POST)
    if form.is_valid():
        services.question_move(question=question, direction=form.cleaned_data["direction"])
    return redirect(reverse("survey_builder:survey", args=[survey.pk]) + "#questions")


@require_POST
@configure_required
def question_delete(request: HttpRequest, pk: int, question_id: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    question = _question_or_404(survey, question_id)
    try:
        services.question_delete(question=question)
    except ApplicationError as error:
        _refusal(request, error)
    else:
        messages.success(request, _("Question deleted."))
    return redirect(reverse("survey_builder:survey", args=[survey.pk]) + "#questions")


def _page_preview_url(request: HttpRequest, survey: Survey, language: str) -> str:
    return request.build_absolute_uri(
        reverse("survey_builder:preview_page", args=[survey.pk, language])
    )


@require_GET
@configure_required
def preview_email(request: HttpRequest, pk: int, language: str) -> HttpResponse:
    survey = _survey_or_404(pk)
    language = _language_or_404(language)
    message = services.survey_preview_email(
        survey=survey, language=language, preview_url=_page_preview_url(request, survey, language)
    )
    html = next((content for content, kind in message.alternatives if kind == "text/html"), "")
    context = {
        "survey": survey,
        "language": language,
        "languages": _preview_languages(survey),
        "message": message,
        "html": html,
        "headers": sorted(message.extra_headers.items()),
    }
    return render(request, "surveys/builder_preview_email.html", context)


def _preview_questions(questions: list[Question], language: str) -> list[dict[str, Any]]:
    shown = []
    for question in questions:
        scale = question.scale
        shown.append(
            {
                "question": question,
                "text": question.text_in(language),
                "choices": question.choices_in(language),
                "scores": list(range(scale[0], scale[1] + 1)) if scale else [],
            }
        )
    return shown


@require_GET
@configure_required
def preview_page(request: HttpRequest, pk: int, language: str) -> HttpResponse:
    """The survey page as a customer sees it; a ?score=N from the email's links is
    shown chosen. It has no form to submit: nothing here is ever recorded."""
    survey = _survey_or_404(pk)
    language = _language_or_404(language)
    questions = selectors.survey_question_list(survey=survey)
    try:
        chosen = int(request.GET.get("score", ""))
    except ValueError:
        chosen = None
    context = {
        "survey": survey,
        "language": language,
        "languages": _preview_languages(survey),
        "questions": _preview_questions(questions, language),
        "chosen": chosen,
        "company_name": settings.CXM_COMPANY_NAME,
    }
    return render(request, "surveys/builder_preview_page.html", context)


@require_POST
@configure_required
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    form = SendTestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a language for the test."))
        return redirect("survey_builder:survey", pk=survey.pk)
    language = form.cleaned_data["language"]
    try:
        services.survey_send_test(
            survey=survey,
            actor=request.user,
            language=language,
            preview_url=_page_preview_url(request, survey, language),
        )
    except ApplicationError as error:
        _refusal(request, error)
    else:
        messages.success(
            request, _("Test email sent to %(email)s.") % {"email": request.user.email}
        )
    return redirect("survey_builder:survey", pk=survey.pk)


@require_POST
@configure_required
def campaign_run(request: HttpRequest, pk: int) -> HttpResponse:
    survey = _survey_or_404(pk)
    try:
        counts = services.campaign_run(survey=survey)
    except ApplicationError as error:
        _refusal(request, error)
    else:
        messages.success(
            request,
            _("Campaign run: %(scheduled)d scheduled, %(skipped)d skipped.") % counts,
        )
    return redirect("survey_builder:survey", pk=survey.pk)
