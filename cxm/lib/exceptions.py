"""Errors services raise, and how the API turns them into 400 answers."""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business rule said no (closing a closed ticket, …). Nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}


class ConflictError(drf_exceptions.APIException):
    status_code = 400
    default_detail = _("The data conflicts with a record that already exists; nothing was saved.")
    default_code = "conflict"


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, taught our domain errors: a service's ValidationError or
    ApplicationError is the client's fault (400), never a 500."""
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, ApplicationError):
        detail = {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
        exc = drf_exceptions.ValidationError(detail)
    elif isinstance(exc, IntegrityError):
        # Validation runs before every save, so this is two clients racing for the same
        # unique value; the service's transaction has already been rolled back.
        logger.info("API write refused by a database constraint: %s", exc)
        exc = ConflictError()
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    return exception_handler(exc, context)
