"""Surveys, invitations and answers over HTTP: parse, call a selector or a service,
respond. The CSV export streams, so a year of answers never sits in memory."""

import csv
from collections.abc import Iterator
from typing import Any

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from cxm.lib.pagination import PageNumberPagination, get_paginated_response

from .. import selectors, services
from ..models import Answer, Invitation, Response, Survey
from . import serializers

EXPORT_COLUMNS = (
    "response_id",
    "answered_at",
    "survey",
    "source",
    "language",
    "customer_id",
    "customer_external_id",
    "customer_name",
    "segment",
    "ticket",
    "team",
    "agent",
    "channel",
    "category",
    "priority",
    "question_id",
    "question_type",
    "question",
    "score",
    "choices",
    "text",
    "follow_up_ticket",
    "loop_closed_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula is prefixed with a
    quote, so an answer like '=HYPERLINK(…)' stays text. Numbers are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _export_row(answer: Answer) -> list[Any]:
    response = answer.response
    local = timezone.localtime
    return [
        response.pk,
        local(response.answered_at).isoformat(),
        response.survey.name,
        response.source,
        response.language,
        response.customer_id,
        response.customer.external_id,
        response.customer.name,
        response.segment,
        response.ticket.reference if response.ticket else "",
        response.team.name if response.team else "",
        response.agent.get_username() if response.agent else "",
        response.channel,
        response.category,
        response.priority,
        answer.question_id,
        answer.question_type,
        answer.question.text_in(response.language),
        "" if answer.score is None else answer.score,
        "; ".join(answer.choices),
        answer.text,
        response.follow_up_ticket.reference if response.follow_up_ticket else "",
        local(response.loop_closed_at).isoformat() if response.loop_closed_at else "",
    ]


class _Echo:
    """csv.writer writes into this and gets the line back, to stream it."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(answers) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for answer in answers.iterator(chunk_size=2000):
        yield writer.writerow([neutralise(cell) for cell in _export_row(answer)])


@extend_schema(tags=["surveys"])
class SurveyListApi(APIView):
    queryset = Survey.objects.all()  # what RoleModelPermissions checks
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.SurveyFilterSerializer
    OutputSerializer = serializers.SurveyOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> ApiResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.survey_list(**filters.validated_data),
            request=request,
            view=self,
        )


@extend_schema(tags=["surveys"])
class SurveyDetailApi(APIView):
    queryset = Survey.objects.all()
    OutputSerializer = serializers.SurveyOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, survey_id: int) -> ApiResponse:
        survey = selectors.survey_get(survey_id)
        if survey is None:
            raise Http404
        return ApiResponse(self.OutputSerializer(survey).data)


@extend_schema(tags=["invitations"])
class InvitationListCreateApi(APIView):
    queryset = Invitation.objects.all()
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.InvitationFilterSerializer
    InputSerializer = serializers.InvitationInputSerializer
    OutputSerializer = serializers.InvitationOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> ApiResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.invitation_list(**filters.validated_data, user=request.user),
            request=request,
            view=self,
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        summary="Invite a customer to a survey by hand",
        description="Sent at send_after (or now). Refused for customers who unsubscribed "
        "or have no email address, and for surveys without questions.",
    )
    def post(self, request: Request) -> ApiResponse:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = services.invitation_create_manual(
            actor=request.user, **serializer.validated_data
        )
        return ApiResponse(self.OutputSerializer(invitation).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["responses"])
class ResponseListApi(APIView):
    queryset = Response.objects.all()
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.ResponseFilterSerializer
    OutputSerializer = serializers.ResponseOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> ApiResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.response_list(**filters.validated_data, user=request.user),
            request=request,
            view=self,
        )


@extend_schema(tags=["responses"])
class ResponseExportApi(APIView):
    queryset = Response.objects.all()
    FilterSerializer = serializers.ResponseFilterSerializer

    @extend_schema(
        parameters=[FilterSerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="One row per answer, oldest first, with a header row.",
            )
        },
        summary="Export the responses as CSV (same filters as the list)",
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        answers = selectors.response_export_answers(**filters.validated_data, user=request.user)
        response = StreamingHttpResponse(
            _csv_lines(answers), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="responses-{stamp}.csv"'
        return response
