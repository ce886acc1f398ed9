"""Tickets over HTTP: the queue, one ticket with its conversation, and the verbs an
agent uses on it. Each view parses, calls one service and answers with the ticket."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxm.lib.pagination import PageNumberPagination, get_paginated_response

from .. import selectors, services
from ..models import Ticket
from . import serializers


def _ticket_or_404(ticket_id: int, user: AbstractBaseUser) -> Ticket:
    """The ticket, if this user may see it; otherwise 404, so its existence stays hidden."""
    ticket = selectors.ticket_get(ticket_id, user=user)
    if ticket is None:
        raise Http404
    return ticket


def _ticket_response(ticket_id: int, *, status_code: int = status.HTTP_200_OK) -> Response:
    """The ticket as it is now, read again after a service changed it. Access was checked
    before the change, and still holds even if the change moved it to another team."""
    ticket = selectors.ticket_get(ticket_id, user=None)
    return Response(serializers.TicketDetailOutputSerializer(ticket).data, status=status_code)


@extend_schema(tags=["tickets"])
class TicketListCreateApi(APIView):
    queryset = Ticket.objects.all()  # what RoleModelPermissions checks
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.TicketFilterSerializer
    InputSerializer = serializers.TicketCreateInputSerializer
    OutputSerializer = serializers.TicketOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.ticket_list(user=request.user, **filters.validated_data),
            request=request,
            view=self,
        )

    @extend_schema(
        request=InputSerializer, responses={201: serializers.TicketDetailOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket = services.ticket_create(created_by=request.user, **serializer.validated_data)
        return _ticket_response(ticket.pk, status_code=status.HTTP_201_CREATED)


@extend_schema(tags=["tickets"])
class TicketDetailApi(APIView):
    queryset = Ticket.objects.all()
    OutputSerializer = serializers.TicketDetailOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, ticket_id: int) -> Response:
        ticket = _ticket_or_404(ticket_id, request.user)
        return Response(self.OutputSerializer(ticket).data)


class TicketActionApi(APIView):
    """A verb on one ticket: a POST that changes it, answered with the ticket."""

    queryset = Ticket.objects.all()
    required_permissions = ("tickets.change_ticket",)
    OutputSerializer = serializers.TicketDetailOutputSerializer


@extend_schema(tags=["tickets"])
class TicketReplyApi(TicketActionApi):
    InputSerializer = serializers.MessageInputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={200: TicketActionApi.OutputSerializer},
        summary="Send a public reply to the customer",
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        ticket = _ticket_or_404(ticket_id, request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.ticket_reply(ticket=ticket, author=request.user, **serializer.validated_data)
        return _ticket_response(ticket_id)


@extend_schema(tags=["tickets"])
class TicketNoteApi(TicketActionApi):
    InputSerializer = serializers.MessageInputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={200: TicketActionApi.OutputSerializer},
        summary="Add an internal note (never sent to the customer)",
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        ticket = _ticket_or_404(ticket_id, request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.ticket_add_note(ticket=ticket, author=request.user, **serializer.validated_data)
        return _ticket_response(ticket_id)


@extend_schema(tags=["tickets"])
class TicketAssignApi(TicketActionApi):
    InputSerializer = serializers.TicketAssignInputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={200: TicketActionApi.OutputSerializer},
        summary="Assign to an agent (null unassigns), optionally moving it to a team",
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        ticket = _ticket_or_404(ticket_id, request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.ticket_assign(ticket=ticket, actor=request.user, **serializer.validated_data)
        return _ticket_response(ticket_id)


@extend_schema(tags=["tickets"])
class TicketSolveApi(TicketActionApi):
    @extend_schema(
        request=None,
        responses={200: TicketActionApi.OutputSerializer},
        summary="Mark the customer's issue solved",
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        services.ticket_solve(ticket=_ticket_or_404(ticket_id, request.user), actor=request.user)
        return _ticket_response(ticket_id)


@extend_schema(tags=["tickets"])
class TicketReopenApi(TicketActionApi):
    @extend_schema(
        request=None,
        responses={200: TicketActionApi.OutputSerializer},
        summary="Reopen a solved or closed ticket",
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        services.ticket_reopen(ticket=_ticket_or_404(ticket_id, request.user), actor=request.user)
        return _ticket_response(ticket_id)


@extend_schema(tags=["tickets"])
class TicketCloseApi(TicketActionApi):
    @extend_schema(
        request=None,
        responses={200: TicketActionApi.OutputSerializer},
        summary="Close the ticket for good (solving it first if needed)",
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        services.ticket_close(ticket=_ticket_or_404(ticket_id, request.user), actor=request.user)
        return _ticket_response(ticket_id)
