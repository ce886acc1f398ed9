"""The rows of a drill-down, and the links to it (drill_url: the one way pages link a
figure to its rows)."""

from dataclasses import replace
from urllib.parse import urlencode

from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse

from surveys.models import Answer, Question

from ..filters import KpiFilter
from .base import (
    ANSWERS,
    BUSINESS_TICKETS,
    BUYERS,
    CUSTOMERS,
    FOLLOW_UPS,
    INVITATIONS,
    NARROWERS,
    NO_VALUE,
    PURCHASES,
    TICKETS,
    Drill,
)
from .registry import DRILLS


def _text_comment() -> Subquery:
    """The first free-text answer of the row's response: what the customer wrote."""
    return Subquery(
        Answer.objects.filter(response=OuterRef("response"), question_type=Question.Type.TEXT)
        .exclude(text="")
        .order_by("question__position", "pk")
        .values("text")[:1]
    )


SELECT_RELATED: dict[str, tuple[str, ...]] = {
    ANSWERS: (
        "response__customer",
        "response__ticket",
        "response__survey",
        "response__team",
        "response__agent",
    ),
    TICKETS: ("customer", "team", "assignee", "solved_by"),
    BUSINESS_TICKETS: ("customer", "team", "assignee", "solved_by"),
    INVITATIONS: ("customer", "ticket", "survey", "response"),
    FOLLOW_UPS: ("customer", "ticket", "survey", "follow_up_ticket"),
    CUSTOMERS: (),
    BUYERS: (),
    PURCHASES: ("customer",),
}


def drill_rows(
    drill: Drill,
    f: KpiFilter,
    *,
    part: str | None = None,
    score: int | None = None,
    narrow: dict[str, str] | None = None,
) -> QuerySet:
    """The rows behind the figure, newest (or, for customers, by name) first, with what
    a row shows joined in; a part's rows when `part` names one, answers of one score
    when `score` is given, cut by the `narrow` NARROWERS (name → group). Raises KeyError
    for a part the drill does not have."""
    rows = drill.parts[part].rows(f) if part else drill.rows(f)
    if score is not None:
        rows = rows.filter(score=score)
    for name, value in (narrow or {}).items():
        rows = NARROWERS[name].narrow(rows, f, value)
    if drill.kind == ANSWERS:
        rows = rows.annotate(comment=_text_comment())
    return rows.select_related(*SELECT_RELATED[drill.kind]).order_by(*drill.ordering)


# --- Links ------------------------------------------------------------------------------


def with_dimension(f: KpiFilter, dimension: str, value: object) -> KpiFilter:
    """The filter narrowed to one row of a breakdown or drivers table."""
    return replace(f, **{dimension: value})


def drill_query(
    f: KpiFilter,
    *,
    part: str | None = None,
    score: int | None = None,
    narrow: dict[str, str] | None = None,
) -> str:
    """The query string of the analytics pages for `f`: its dates as a custom period (a
    link keeps pointing at the same rows tomorrow) and its dimensions."""
    query: dict[str, object] = {
        "period": "custom",
        "date_from": f.date_from.isoformat(),
        "date_to": f.date_to.isoformat(),
    }
    for dimension, value in f.dimensions().items():
        query[dimension] = NO_VALUE if value == "" else value
    if part:
        query["part"] = part
    if score is not None:
        query["score"] = score
    query.update(narrow or {})
    return urlencode(query)


def drill_url(
    metric: str,
    f: KpiFilter,
    *,
    part: str | None = None,
    score: int | None = None,
    of_value: bool = False,
    narrow: dict[str, str] | None = None,
) -> str | None:
    """The drill-down page of a figure: the rows `metric`'s n counts, or `part`'s rows,
    or (of_value) the rows its headline value is the share of; cut by `narrow`. None
    for a metric that has no drill-down."""
    drill = DRILLS.get(metric)
    if drill is None:
        return None
    if of_value:
        part = drill.value_part
    url = reverse("analytics:drill", args=[metric])
    return f"{url}?{drill_query(f, part=part, score=score, narrow=narrow)}"
