"""Every number of the analytics pages links to the rows behind it (a drill-down that
lists as many rows as the number counts, under the page's own period and filters, and
the table row's team, channel or segment), and every table exports CSV."""

import csv
import html as html_lib
import re
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client

from analytics.drill import DRILLS, NO_VALUE
from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.tests.test_drill import MID_MARCH, csv_rows, grow, nps_answer
from customers.tests.factories import CustomerFactory
from surveys.models import Answer, Question, Response, Survey
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

MARCH = {"period": "custom", "date_from": "2026-03-01", "date_to": "2026-03-31"}
MARCH_FILTER = KpiFilter(date(2026, 3, 1), date(2026, 3, 31))
TODAY = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)
LINK = re.compile(r'<a[^>]*href="([^"]+)"[^>]*data-drill="([\w-]+)"')


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def manager(manager_user) -> Client:
    client = Client()
    client.force_login(manager_user)
    return client


def links(fragment: str) -> dict[str, str]:
    """The drill-down links of a piece of HTML, by what they link (value, n…)."""
    return {kind: html_lib.unescape(href) for href, kind in LINK.findall(fragment)}


def rows_behind(client: Client, url: str) -> int:
    """How many rows the drill-down at `url` lists (its whole CSV, not one page)."""
    response = client.get(f"{url}&format=csv")
    assert response.status_code == 200, url
    return len(csv_rows(response)) - 1


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def section(html: str, pattern: str) -> str:
    match = re.search(pattern, html, re.S)
    assert match, pattern
    return match.group(0)


# --- Overview cards


def test_each_overview_card_links_its_value_and_its_n_to_their_rows(manager):
    grow(3)

    response = manager.get("/analytics/", {**MARCH, "segment": "smb"})

    html = response.content.decode()
    for card in response.context["cards"]:
        found = links(section(html, rf'<article[^>]*data-kpi="{card.key}".*?</article>'))
        assert set(found) == {"value", "n"}, card.key
        for url in found.values():
            assert url.startswith(f"/analytics/drill/{card.key}/?"), card.key
            assert query_of(url) | MARCH | {"segment": "smb"} == query_of(url), card.key
        assert rows_behind(manager, found["n"]) == card.n, card.key
        value_part = DRILLS[card.key].value_part
        assert query_of(found["value"]).get("part") == value_part, card.key
    assert {card.key for card in response.context["cards"]} == set(REGISTRY)


# --- Breakdowns


def nps_question() -> Question:
    survey, _created = Survey.objects.get_or_create(name="After support")
    return Question.objects.get_or_create(
        survey=survey, type="nps", defaults={"text_en": "?", "text_es": "?"}
    )[0]


def test_a_breakdown_cell_links_to_its_rows_with_the_rows_team(manager):
    billing, sales = TeamFactory(name="Billing"), TeamFactory(name="Sales")
    for score, team in ((10, billing), (3, billing), (9, billing), (0, sales)):
        nps_answer(score, team=team)

    response = manager.get("/analytics/breakdowns/", {"from": "2026-03-01", "to": "2026-03-31"})

    html = response.content.decode()
    billing_row = section(html, rf'<tr data-row="{billing.pk}">.*?</tr>')
    nps_cell = section(billing_row, r'<td[^>]*data-kpi="nps".*?</td>')
    found = links(nps_cell)
    assert query_of(found["n"])["team"] == str(billing.pk)
    assert rows_behind(manager, found["n"]) == 3
    csat_cell = section(billing_row, r'<td[^>]*data-kpi="csat".*?</td>')
    assert set(links(csat_cell)) == {"n"}  # "No data" links nowhere; its n = 0 does


def test_the_none_segment_row_links_to_the_answers_without_a_segment(manager):
    for score, segment in ((10, ""), (2, ""), (8, "smb")):
        nps_answer(score, segment=segment)

    response = manager.get(
        "/analytics/breakdowns/", {"from": "2026-03-01", "to": "2026-03-31", "by": "segment"}
    )

    html = response.content.decode()
    none_row = section(html, r'<tr data-row="">.*?</tr>')
    found = links(section(none_row, r'<td[^>]*data-kpi="nps".*?</td>'))
    assert query_of(found["n"])["segment"] == NO_VALUE
    assert rows_behind(manager, found["n"]) == 2


# --- Drivers


def test_drivers_rows_link_n_score_and_detractor_share_to_their_answers(manager):
    billing = TeamFactory(name="Billing")
    for score, team, category in (
        (2, billing, "returns"),
        (10, billing, "returns"),
        (4, billing, ""),
        (9, None, "returns"),
    ):
        nps_answer(score, team=team, category=category)

    html = manager.get("/analytics/drivers/", MARCH).content.decode()

    returns = links(section(html, r'<tr data-group="returns".*?</tr>'))
    assert rows_behind(manager, returns["n"]) == 3
    assert rows_behind(manager, returns["poor"]) == 1
    assert query_of(returns["poor"])["part"] == "detractors"
    no_category = links(section(html, r'<tr data-group="".*?</tr>'))
    assert rows_behind(manager, no_category["n"]) == 1
    teams = section(html, r'<table[^>]*data-drivers="team".*?</table>')
    assert (
        rows_behind(manager, links(section(teams, rf'<tr data-group="{billing.pk}".*?</tr>'))["n"])
        == 3
    )
    # Answers without a team: a team filter of None would mean "all teams".
    no_team = links(section(teams, r'<tr data-group="None".*?</tr>'))
    assert query_of(no_team["n"])["without"] == "team"
    assert rows_behind(manager, no_team["n"]) == 1
    assert rows_behind(manager, no_team["poor"]) == 0
    overall = links(section(teams, r"<caption.*?</caption>"))
    assert rows_behind(manager, overall["overall"]) == 4


def test_csat_drivers_link_their_score_to_satisfied_and_their_share_to_csat_1_2(manager):
    survey, _created = Survey.objects.get_or_create(name="After support")
    csat = Question.objects.create(survey=survey, type="csat", text_en="?", text_es="?")
    for score in (5, 4, 1, 2, 3):
        response = Response.objects.create(
            survey=survey, customer=CustomerFactory(), answered_at=MID_MARCH, category="billing"
        )
        Answer.objects.create(response=response, question=csat, question_type="csat", score=score)

    html = manager.get("/analytics/drivers/", {**MARCH, "metric": "csat"}).content.decode()

    billing = links(section(html, r'<tr data-group="billing".*?</tr>'))
    assert rows_behind(manager, billing["value"]) == 2
    assert rows_behind(manager, billing["poor"]) == 2
    assert rows_behind(manager, billing["n"]) == 5


def test_the_closed_loop_figures_link_to_the_follow_ups(manager):
    grow(4)

    html = manager.get("/analytics/drivers/", MARCH).content.decode()

    loop = links(section(html, r"<dl[^>]*data-closed-loop.*?</dl>"))
    assert rows_behind(manager, loop["n"]) == REGISTRY["closed_loop_rate"](MARCH_FILTER)["n"]
    assert rows_behind(manager, loop["value"]) == 2
    assert loop["median"] == loop["value"]


def test_the_joined_tables_link_each_group_to_its_answers_or_customers(manager):
    grow(4)

    response = manager.get("/analytics/drivers/", MARCH)

    html = response.content.decode()
    for index, bucket in enumerate(response.context["frt_buckets"]):
        found = links(section(html, rf'<tr data-bucket="{index}".*?</tr>'))
        assert rows_behind(manager, found["n"]) == bucket.n
        if bucket.n:
            assert query_of(found["value"])["part"] == "satisfied"
    assert sum(bucket.n for bucket in response.context["frt_buckets"]) > 0
    for group in response.context["nps_groups"]:
        found = links(section(html, rf'<tr data-nps-group="{group.key}".*?</tr>'))
        assert rows_behind(manager, found["churn-n"]) == group.churn_base, group.key
        assert rows_behind(manager, found["clv-n"]) == group.buyers, group.key
        assert query_of(found["churn-n"])["latest_nps"] == group.key
    assert sum(group.churn_base for group in response.context["nps_groups"]) > 0


def test_a_cut_the_rows_do_not_take_is_refused(manager):
    response = manager.get("/analytics/drill/nps/", {**MARCH, "latest_nps": "promoter"})
    other = manager.get("/analytics/drill/churn_rate/", {**MARCH, "latest_nps": "fans"})

    assert (response.status_code, other.status_code) == (400, 400)


@pytest.mark.parametrize(
    ("table", "header"),
    [
        ("category", ["Category", "n", "NPS", "Detractors (%)", "Impact"]),
        ("team", ["Team", "n", "NPS", "Detractors (%)", "Impact"]),
        ("channel", ["Channel", "n", "NPS", "Detractors (%)", "Impact"]),
        ("frt", ["First response", "n", "CSAT (%)", "Mean"]),
        (
            "nps_groups",
            [
                "Latest NPS answer",
                "Churn rate (%)",
                "Customers at the start",
                "CLV (historical)",
                "Customers who bought",
            ],
        ),
    ],
)
def test_every_drivers_table_exports_csv(manager, table, header):
    grow(2)
    nps_answer(0, category="=cmd|' /C calc'!A0")

    response = manager.get("/analytics/drivers/", {**MARCH, "format": "csv", "table": table})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(response.content.decode().splitlines()))
    assert rows[0] == header
    assert len(rows) > 1
    if table == "category":
        assert "'=cmd|' /C calc'!A0" in [row[0] for row in rows]
        assert {row[0]: row[1] for row in rows[1:]}["'=cmd|' /C calc'!A0"] == "1"


def test_an_unknown_drivers_table_is_not_found(manager):
    response = manager.get("/analytics/drivers/", {**MARCH, "format": "csv", "table": "x"})

    assert response.status_code == 404


# --- Trends


def table(html: str, key: str) -> str:
    return section(html, rf'<table[^>]*data-table="{key}".*?</table>')


def test_trend_tables_link_each_bucket_to_its_rows(manager):
    for score, day in ((10, 2), (0, 3), (9, 10)):
        nps_answer(score, answered_at=datetime(2026, 3, day, 10, tzinfo=UTC))
    Ticket.objects.create(
        customer=CustomerFactory(), subject="Help", created_at=datetime(2026, 3, 3, tzinfo=UTC)
    )

    html = manager.get("/analytics/trends/", {**MARCH, "interval": "week"}).content.decode()

    body = section(table(html, "nps"), r"<tbody>.*?</tbody>")
    second_week = re.findall(r"<tr>.*?</tr>", body, re.S)[1]  # 2 to 8 March
    urls = {html_lib.unescape(url) for url in re.findall(r'href="([^"]+)"', second_week)}
    assert len(urls) == 1
    (url,) = urls
    assert query_of(url)["date_from"] == "2026-03-02"
    assert query_of(url)["date_to"] == "2026-03-08"
    assert rows_behind(manager, url) == 2
    scores = table(html, "nps-distribution")
    ten = html_lib.unescape(re.search(r'<td>10</td><td><a href="([^"]+)"', scores).group(1))
    assert query_of(ten)["score"] == "10"
    assert rows_behind(manager, ten) == 1
    volume = re.findall(r'href="([^"]+)"', table(html, "volume"))
    assert sum(rows_behind(manager, html_lib.unescape(url)) for url in volume) == 1


def test_every_trend_table_exports_its_figures_at_full_precision(manager):
    for score in (10, 10, 0):
        nps_answer(score, answered_at=datetime(2026, 3, 3, 10, tzinfo=UTC))

    keys = ("nps", "csat", "ces", "nps-distribution", "csat-distribution", "volume", "times")
    exports = {
        key: manager.get(
            "/analytics/trends/", {**MARCH, "interval": "week", "format": "csv", "table": key}
        )
        for key in keys
    }

    for key, response in exports.items():
        assert response.status_code == 200, key
        assert response["Content-Disposition"] == (
            f'attachment; filename="trend-{key}-2026-03-01-2026-03-31.csv"'
        )
    nps = [row.split(",") for row in exports["nps"].content.decode().splitlines()]
    assert nps[0] == ["From", "To", "NPS", "± 95% margin", "n"]
    assert nps[1] == ["2026-03-01", "2026-03-01", "", "", "0"]  # no data: empty, not 0
    assert nps[2][:3] == ["2026-03-02", "2026-03-08", str(100 / 3)]
    assert nps[2][4] == "3"


def test_an_unknown_trend_table_is_not_found(manager):
    response = manager.get("/analytics/trends/", {**MARCH, "format": "csv", "table": "weather"})

    assert response.status_code == 404


def test_the_pages_offer_their_csv_exports(manager):
    trends = manager.get("/analytics/trends/", MARCH).content.decode()
    drivers = manager.get("/analytics/drivers/", MARCH).content.decode()

    assert trends.count('data-export="csv"') == 7
    assert drivers.count('data-export="csv"') == 5
    assert "format=csv&amp;table=frt" in drivers
