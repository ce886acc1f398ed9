"""Customers, purchases and touchpoints over HTTP: parse, call a service, respond."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxm.lib.pagination import PageNumberPagination, get_paginated_response

from .. import selectors, services
from ..models import Customer, CustomerEvent, Purchase
from . import serializers


def _found(instance):
    if instance is None:
        raise Http404
    return instance


@extend_schema(tags=["customers"])
class CustomerListCreateApi(APIView):
    queryset = Customer.objects.all()  # what RoleModelPermissions checks
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.CustomerFilterSerializer
    InputSerializer = serializers.CustomerInputSerializer
    OutputSerializer = serializers.CustomerOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.customer_list(**filters.validated_data),
            request=request,
            view=self,
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(**serializer.validated_data)
        return Response(self.OutputSerializer(customer).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["customers"])
class CustomerDetailApi(APIView):
    queryset = Customer.objects.all()
    InputSerializer = serializers.CustomerInputSerializer
    OutputSerializer = serializers.CustomerOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, customer_id: int) -> Response:
        customer = _found(selectors.customer_get(customer_id))
        return Response(self.OutputSerializer(customer).data)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def put(self, request: Request, customer_id: int) -> Response:
        return self._update(request, customer_id, partial=False)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def patch(self, request: Request, customer_id: int) -> Response:
        return self._update(request, customer_id, partial=True)

    def _update(self, request: Request, customer_id: int, *, partial: bool) -> Response:
        customer = _found(selectors.customer_get(customer_id))
        serializer = self.InputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_update(customer=customer, **serializer.validated_data)
        return Response(self.OutputSerializer(customer).data)


@extend_schema(tags=["purchases"])
class PurchaseListCreateApi(APIView):
    queryset = Purchase.objects.all()
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.PurchaseFilterSerializer
    InputSerializer = serializers.PurchaseCreateInputSerializer
    OutputSerializer = serializers.PurchaseOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.purchase_list(**filters.validated_data),
            request=request,
            view=self,
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        purchase = services.purchase_create(**serializer.validated_data)
        return Response(self.OutputSerializer(purchase).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["purchases"])
class PurchaseDetailApi(APIView):
    queryset = Purchase.objects.all()
    InputSerializer = serializers.PurchaseUpdateInputSerializer
    OutputSerializer = serializers.PurchaseOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, purchase_id: int) -> Response:
        purchase = _found(selectors.purchase_get(purchase_id))
        return Response(self.OutputSerializer(purchase).data)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def put(self, request: Request, purchase_id: int) -> Response:
        return self._update(request, purchase_id, partial=False)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def patch(self, request: Request, purchase_id: int) -> Response:
        return self._update(request, purchase_id, partial=True)

    def _update(self, request: Request, purchase_id: int, *, partial: bool) -> Response:
        purchase = _found(selectors.purchase_get(purchase_id))
        serializer = self.InputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        purchase = services.purchase_update(purchase=purchase, **serializer.validated_data)
        return Response(self.OutputSerializer(purchase).data)


@extend_schema(tags=["events"])
class CustomerEventListCreateApi(APIView):
    queryset = CustomerEvent.objects.all()
    pagination_class = PageNumberPagination
    FilterSerializer = serializers.CustomerEventFilterSerializer
    InputSerializer = serializers.CustomerEventCreateInputSerializer
    OutputSerializer = serializers.CustomerEventOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return get_paginated_response(
            pagination_class=self.pagination_class,
            serializer_class=self.OutputSerializer,
            queryset=selectors.customer_event_list(**filters.validated_data),
            request=request,
            view=self,
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = services.customer_event_create(**serializer.validated_data)
        return Response(self.OutputSerializer(event).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["events"])
class CustomerEventDetailApi(APIView):
    queryset = CustomerEvent.objects.all()
    InputSerializer = serializers.CustomerEventUpdateInputSerializer
    OutputSerializer = serializers.CustomerEventOutputSerializer

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, event_id: int) -> Response:
        event = _found(selectors.customer_event_get(event_id))
        return Response(self.OutputSerializer(event).data)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def put(self, request: Request, event_id: int) -> Response:
        return self._update(request, event_id, partial=False)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def patch(self, request: Request, event_id: int) -> Response:
        return self._update(request, event_id, partial=True)

    def _update(self, request: Request, event_id: int, *, partial: bool) -> Response:
        event = _found(selectors.customer_event_get(event_id))
        serializer = self.InputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        event = services.customer_event_update(event=event, **serializer.validated_data)
        return Response(self.OutputSerializer(event).data)
