"""The OpenAPI description's schema class: drf-spectacular's, plus the error answers.

drf-spectacular documents only the success of each operation. An integrator also needs
the answers the API gives when a request is refused (and a schema-driven client or
test checks that every status code it receives is documented), so each operation
lists the ones it can give: 400 for invalid input, 401 and 403 for credentials and
roles, 404 for an unknown object or a page past the end, 429 when throttled.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.plumbing import ComponentRegistry, ResolvedComponent

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ERROR_SCHEMA = {
    "type": "object",
    "description": _(
        "Why the request was refused: `detail` with a message, or the message lists of "
        "the fields (and `non_field_errors`) that were invalid."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: ComponentRegistry,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        error = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA
        )
        registry.register_on_missing(error)
        for code, description in self._error_statuses(operation):
            operation["responses"].setdefault(
                code,
                {
                    "content": {"application/json": {"schema": error.ref}},
                    "description": description,
                },
            )
        return operation

    def _error_statuses(self, operation: dict[str, Any]) -> list[tuple[str, str]]:
        parameters = operation.get("parameters", [])
        locations = {parameter["in"] for parameter in parameters}
        names = {parameter["name"] for parameter in parameters}
        statuses = []
        if self.method in WRITE_METHODS or "query" in locations:
            statuses.append(("400", _("The request is invalid; the answer says why.")))
        if operation.get("security"):
            statuses.append(("401", _("No valid credentials were sent.")))
            statuses.append(("403", _("The user's role does not allow this.")))
        if "path" in locations or "page" in names:
            statuses.append(("404", _("No such object, or a page past the end.")))
        if self.view.throttle_classes:
            statuses.append(("429", _("Too many requests; try again later.")))
        return statuses
