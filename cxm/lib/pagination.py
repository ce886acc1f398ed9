from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M`; a page past the end (or not a number) is a 404."""

    page_size_query_param = "page_size"
    max_page_size = 200


def get_paginated_response(
    *,
    pagination_class: type[pagination.BasePagination],
    serializer_class: type[BaseSerializer],
    queryset: QuerySet,
    request: Request,
    view: APIView,
) -> Response:
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    if page is None:
        return Response(serializer_class(queryset, many=True).data)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
