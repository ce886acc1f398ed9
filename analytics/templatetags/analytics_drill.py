"""{% drill_url %}: the link from a figure on an analytics page to the rows behind it;
{% csv_url %}: the link exporting one table of the current page as CSV.

    {% load analytics_drill %}
    {% drill_url "nps" filter part="detractors" as url %}
    {% drill_url cell.kpi period of_value=True by=breakdown.by key=row.key as url %}

`latest_nps` and `frt` cut the rows to a group of the drivers page's joined tables
(analytics.drill.NARROWERS). `by` and `key` narrow the filter to one row of a table
(its team, channel…). A row whose key is None (answers without a team) is asked for
with the "without" cut, since a filter of None means "all"; where the drill-down has no
such cut, the tag gives "" and the template shows the figure without a link.
"""

from django import template

from analytics.drill import DRILLS, with_dimension
from analytics.drill import drill_url as build_drill_url
from analytics.filters import KpiFilter

register = template.Library()

_ANY = object()


@register.simple_tag
def drill_url(
    metric: str,
    f: KpiFilter,
    part: str = "",
    score: int | None = None,
    of_value: bool = False,
    by: str = "",
    key: object = _ANY,
    latest_nps: str = "",
    frt: object = None,
) -> str:
    narrow = {"latest_nps": latest_nps} if latest_nps else {}
    if by:
        if key is _ANY:
            return ""
        if key is None:
            if metric not in DRILLS or "without" not in DRILLS[metric].narrowers:
                return ""
            narrow["without"] = by
        else:
            f = with_dimension(f, by, key)
    if frt is not None:
        narrow["frt"] = str(frt)
    url = build_drill_url(
        metric, f, part=part or None, score=score, of_value=of_value, narrow=narrow
    )
    return url or ""


@register.simple_tag(takes_context=True)
def csv_url(context, table: str) -> str:
    """This page's query string (its period and filters) asking for `table` as CSV."""
    query = context["request"].GET.copy()
    query.pop("page", None)
    query["format"] = "csv"
    query["table"] = table
    return f"?{query.urlencode()}"
