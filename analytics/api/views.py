"""The KPIs over HTTP for managers and integrators: parse the period and filters, ask
the selectors, answer the figures as computed (percentages unrounded, no data as null)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..filters import KpiFilter
from . import serializers

DIMENSIONS = ("team", "agent", "channel", "category", "segment", "survey")


def _applied_filters(f: KpiFilter) -> dict[str, object]:
    return {name: getattr(f, name) for name in DIMENSIONS}


@extend_schema(tags=["kpis"])
class KpiListApi(APIView):
    required_permissions = ("accounts.view_analytics",)  # managers and admins
    FilterSerializer = serializers.KpiFilterSerializer

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: serializers.KpisOutputSerializer},
        summary="Every KPI over a period, each with its previous period",
        description="Each KPI carries its figures, its sample size n and `previous`, the "
        "same KPI over the period of equal length just before. Dimension filters apply "
        "where they make sense (customer and purchase KPIs honour only `segment`).",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.to_filter()
        return Response(
            {
                "from": f.date_from,
                "to": f.date_to,
                "filters": _applied_filters(f),
                "kpis": selectors.kpis_compute(f),
            }
        )


@extend_schema(tags=["kpis"])
class KpiSeriesApi(APIView):
    required_permissions = ("accounts.view_analytics",)
    FilterSerializer = serializers.KpiSeriesFilterSerializer

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: OpenApiResponse(response=serializers.SERIES_SCHEMA)},
        summary="One KPI over time",
        description="One point per calendar day, week (Monday to Sunday) or month of the "
        f"period in the company's time zone, at most {selectors.MAX_BUCKETS} points; the "
        "first and last buckets are clipped to the period.",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response(
            selectors.kpi_series(
                filters.validated_data["metric"],
                filters.to_filter(),
                filters.validated_data["interval"],
            )
        )
