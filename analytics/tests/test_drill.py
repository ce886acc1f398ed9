"""The drill-down page (/analytics/drill/<metric>/): who may open it, the rows behind
every KPI (as many as the KPI's n, and as many as each part's figure, on the demo data
set and under every kind of filter), what a row shows and links to, the words saying
which rows these are, a page at a time in a fixed number of queries, and the full row
set as a formula-safe CSV."""

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import agent
from analytics.drill import DRILLS, NO_VALUE, drill_rows, drill_url
from analytics.drivers import csat_by_first_response, customers_by_latest_nps, driver_table
from analytics.filters import KpiFilter
from analytics.kpis import REGISTRY
from analytics.rollups import lifecycle
from customers.models import Customer, Purchase
from customers.tests.factories import CustomerFactory, PayingCustomerFactory, PurchaseFactory
from surveys.models import Answer, Invitation, Question, Response, Survey
from tickets.models import Message, Team, Ticket
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

URL = "/analytics/drill/{}/"
MARCH = {"period": "custom", "date_from": "2026-03-01", "date_to": "2026-03-31"}
MARCH_FILTER = KpiFilter(date(2026, 3, 1), date(2026, 3, 31))
MID_MARCH = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
TODAY = datetime(2026, 4, 20, 10, 0, tzinfo=UTC)

# The demo data set (seed_demo) and a half-year of it in which every part has rows.
DEMO = {"customers": 80, "tickets": 500, "anchor": "2025-03-10"}
DEMO_PERIOD = KpiFilter(date(2024, 9, 1), date(2025, 3, 9))


@pytest.fixture(autouse=True)
def _madrid(settings):
    settings.TIME_ZONE = "Europe/Madrid"
    with time_machine.travel(TODAY, tick=False):
        yield


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(content)))


def share_count(share: float | None, n: int) -> int:
    return 0 if share is None else round(share * n / 100)


def expected_counts(metric: str, f: KpiFilter) -> dict[str | None, int]:
    """How many rows the KPI itself says are behind each figure: None for its n, then
    one entry per part, read from the KPI's own answer (or, for the low-CSAT part, the
    drivers table's share of CSAT 1-2)."""
    kpi = REGISTRY[metric](f)
    n = kpi["n"]
    parts: dict[str, Callable[[], dict[str, int]]] = {
        "nps": lambda: {key: kpi[key] for key in ("promoters", "passives", "detractors")},
        "csat": lambda: {
            "satisfied": share_count(kpi["value"], n),
            "low": sum(
                share_count(row.poor_share, row.n)
                for row in driver_table(dimension="category", metric="csat", f=f).rows
            ),
        },
        "ces": lambda: {"agreeing": share_count(kpi["agree_share"], n)},
        "response_rate": lambda: {
            "answered": share_count(kpi["value"], n),
            "unanswered": n - share_count(kpi["value"], n),
        },
        "closed_loop_rate": lambda: {
            "closed": share_count(kpi["value"], n),
            "open": n - share_count(kpi["value"], n),
        },
        "churn_rate": lambda: {"lost": kpi["lost"]},
        "retention_rate": lambda: {"at_end": kpi["at_end"], "acquired": kpi["acquired"]},
        "churn_vs_acquisition": lambda: {"churned": kpi["churned"]},
        "conversion_rate": lambda: {"converted": kpi["converted"]},
        "resolution_rate": lambda: {"resolved": kpi["resolved"]},
        "fcr_rate": lambda: {"first_contact": kpi["first_contact"]},
        "reopen_rate": lambda: {"reopened": kpi["reopened"]},
        "sla_compliance": lambda: {"met": kpi["met"], "missed": n - kpi["met"]},
        "upsell_cross_sell_share": lambda: {
            "upsell_cross_sell": share_count(kpi["value"], n),
            "upsell": share_count(kpi["upsell_share"], n),
            "cross_sell": share_count(kpi["cross_sell_share"], n),
        },
    }
    return {None: n, **parts.get(metric, dict)()}


# --- Who may open it


def test_managers_and_admins_open_a_drill_down(manager_user, admin_user):
    for user in (manager_user, admin_user):
        response = client_for(user).get(URL.format("nps"), MARCH)
        assert response.status_code == 200


def test_agents_may_not_open_a_drill_down_nor_its_csv(agent_user):
    client = client_for(agent_user)
    assert client.get(URL.format("nps"), MARCH).status_code == 403
    assert client.get(URL.format("nps"), {**MARCH, "format": "csv"}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get(URL.format("nps"))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_an_unknown_figure_is_not_found(manager_user):
    assert client_for(manager_user).get(URL.format("happiness")).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {**MARCH, "part": "fans"},  # nps has no such part
        {**MARCH, "date_from": "2026-13-01"},
        {**MARCH, "date_to": "2026-02-01"},
        {**MARCH, "team": "999999"},
        {**MARCH, "score": "ten"},
        {**MARCH, "score": "99999999999999999999"},
        {**MARCH, "category": "a\x00b"},
        {**MARCH, "category": "x" * 61},
    ],
)
def test_bad_input_is_a_400_with_the_error_never_a_500(manager_user, query):
    client = client_for(manager_user)

    page = client.get(URL.format("nps"), query)
    export = client.get(URL.format("nps"), {**query, "format": "csv"})

    assert page.status_code == 400
    assert "alert-danger" in page.content.decode()
    assert "Showing the last 30 days instead" not in page.content.decode()
    assert export.status_code == 400


def test_a_page_number_past_any_end_is_an_empty_page_not_an_error(manager_user):
    nps_answer(3)

    response = client_for(manager_user).get(URL.format("nps"), {**MARCH, "page": "9" * 40})

    assert response.status_code == 200
    assert response.context["rows"] == []


def test_a_link_may_name_an_agent_who_left_and_a_category_no_ticket_has_now(manager_user):
    gone = agent(username="gone", is_active=False)
    nps_answer(3, agent=gone, category="legacy")
    nps_answer(3, category="legacy")
    f = KpiFilter(MARCH_FILTER.date_from, MARCH_FILTER.date_to, agent=gone.pk, category="legacy")

    response = client_for(manager_user).get(drill_url("nps", f))

    assert response.status_code == 200
    assert len(response.context["rows"]) == 1


def test_only_answers_may_be_narrowed_to_one_score(manager_user):
    response = client_for(manager_user).get(URL.format("fcr_rate"), {**MARCH, "score": "3"})

    assert response.status_code == 400


# --- The rows are the KPI's rows


def test_every_kpi_has_a_drill_down():
    assert set(DRILLS) == set(REGISTRY)


def test_on_the_demo_data_each_figure_has_as_many_rows_as_the_kpi_counts(manager_user):
    call_command("seed_demo", stdout=StringIO(), **DEMO)
    team = Team.objects.order_by("name").first()
    someone = Ticket.objects.exclude(solved_by=None).values_list("solved_by", flat=True)[0]
    segment = Customer.objects.exclude(segment="").values_list("segment", flat=True)[0]
    survey = Survey.objects.order_by("name").first()
    filters = [
        DEMO_PERIOD,
        KpiFilter(DEMO_PERIOD.date_from, DEMO_PERIOD.date_to, team=team.pk),
        KpiFilter(DEMO_PERIOD.date_from, DEMO_PERIOD.date_to, agent=someone),
        KpiFilter(DEMO_PERIOD.date_from, DEMO_PERIOD.date_to, segment=segment),
        KpiFilter(DEMO_PERIOD.date_from, DEMO_PERIOD.date_to, channel="email"),
        KpiFilter(DEMO_PERIOD.date_from, DEMO_PERIOD.date_to, survey=survey.pk),
    ]
    checked_nonzero = set()
    for f in filters:
        for metric, drill in DRILLS.items():
            for part, count in expected_counts(metric, f).items():
                rows = drill_rows(drill, f, part=part)
                assert rows.count() == count, (metric, part, f)
                if count and f is DEMO_PERIOD:
                    checked_nonzero.add((metric, part))
        # The drivers page's joined tables: each group's rows are as many as it counts.
        for index, bucket in enumerate(csat_by_first_response(f)):
            narrow = {"frt": str(index)}
            csat = DRILLS["csat"]
            assert drill_rows(csat, f, narrow=narrow).count() == bucket.n, (index, f)
            satisfied = drill_rows(csat, f, part="satisfied", narrow=narrow).count()
            assert satisfied == share_count(bucket.csat, bucket.n), (index, f)
        for group in customers_by_latest_nps(f):
            narrow = {"latest_nps": group.key}
            churn, clv = DRILLS["churn_rate"], DRILLS["clv"]
            assert drill_rows(churn, f, narrow=narrow).count() == group.churn_base, group
            lost = drill_rows(churn, f, part="lost", narrow=narrow).count()
            assert lost == share_count(group.churn_rate, group.churn_base), group
            assert drill_rows(clv, f, narrow=narrow).count() == group.buyers, group
        for metric in ("nps", "csat"):
            table = driver_table(dimension="team", metric=metric, f=f)
            teams = {row.key: row.n for row in table.rows}
            without_team = drill_rows(DRILLS[metric], f, narrow={"without": "team"}).count()
            assert without_team == teams.get(None, 0), (metric, f)
    # The data set gives every figure rows, so no equality above was 0 == 0 by luck.
    every_figure = {
        (metric, part) for metric in DRILLS for part in expected_counts(metric, DEMO_PERIOD)
    }
    assert checked_nonzero == every_figure

    # The page and its CSV show that same row set.
    client = client_for(manager_user)
    query = {
        "period": "custom",
        "date_from": DEMO_PERIOD.date_from.isoformat(),
        "date_to": DEMO_PERIOD.date_to.isoformat(),
    }
    for metric in DRILLS:
        for part, count in expected_counts(metric, DEMO_PERIOD).items():
            params = {**query, **({"part": part} if part else {})}
            export = client.get(URL.format(metric), {**params, "format": "csv"})
            assert len(csv_rows(export)) - 1 == count, (metric, part)
            page = client.get(URL.format(metric), params)
            assert page.status_code == 200
            assert len(page.context["rows"]) == min(count, 50), (metric, part)


def test_drill_links_carry_the_filter_so_the_page_reads_the_same_rows(manager_user):
    billing = TeamFactory(name="Billing")
    survey = Survey.objects.create(name="After support")
    question = Question.objects.create(survey=survey, type="nps", text_en="?", text_es="?")
    for score, team, category in ((2, billing, ""), (9, billing, "returns"), (3, None, "")):
        response = Response.objects.create(
            survey=survey,
            customer=CustomerFactory(),
            answered_at=MID_MARCH,
            team=team,
            category=category,
        )
        Answer.objects.create(
            response=response, question=question, question_type="nps", score=score
        )
    f = KpiFilter(MARCH_FILTER.date_from, MARCH_FILTER.date_to, team=billing.pk, category="")

    url = drill_url("nps", f, part="detractors")
    page = client_for(manager_user).get(url)

    assert f"team={billing.pk}" in url and f"category={NO_VALUE}" in url
    assert page.status_code == 200
    assert [row[1][0] for row in page.context["rows"]] == ["2"]  # the score column
    assert "Category: (none)" in page.content.decode()


# --- What the page says and shows


def nps_answer(score: int, *, text: str = "", **response_fields) -> Response:
    survey, _created = Survey.objects.get_or_create(name="After support")
    nps, _created = Question.objects.get_or_create(
        survey=survey, type="nps", defaults={"text_en": "?", "text_es": "?"}
    )
    comment, _created = Question.objects.get_or_create(
        survey=survey, type="text", defaults={"text_en": "Why?", "text_es": "¿Por qué?"}
    )
    response = Response.objects.create(
        survey=survey,
        customer=response_fields.pop("customer", None) or CustomerFactory(),
        answered_at=response_fields.pop("answered_at", MID_MARCH),
        **response_fields,
    )
    Answer.objects.create(response=response, question=nps, question_type="nps", score=score)
    if text:
        Answer.objects.create(response=response, question=comment, question_type="text", text=text)
    return response


def test_the_page_says_in_words_which_rows_it_shows(manager_user):
    billing = TeamFactory(name="Billing")
    nps_answer(3, team=billing)

    html = (
        client_for(manager_user)
        .get(URL.format("nps"), {**MARCH, "part": "detractors", "team": billing.pk})
        .content.decode()
    )

    assert "Detractors: NPS answers 0-6 given from March 1, 2026 to March 31, 2026." in html
    assert "Team: Billing" in html
    assert "1 answer" in html
    assert 'href="/analytics/glossary/#kpi-nps"' in html


def test_the_page_speaks_spanish_with_spanish_dates(manager_user):
    nps_answer(3)
    manager_user.language = "es"
    manager_user.save()

    html = (
        client_for(manager_user)
        .get(URL.format("nps"), {**MARCH, "part": "detractors"})
        .content.decode()
    )

    assert "1 de marzo de 2026" in html


def test_filters_a_figure_ignores_are_named_as_not_used(manager_user):
    PurchaseFactory(occurred_at=MID_MARCH)
    billing = TeamFactory(name="Billing")

    response = client_for(manager_user).get(
        URL.format("average_order_value"), {**MARCH, "team": billing.pk}
    )

    assert response.context["ignored"] == ["Team"]
    assert len(response.context["rows"]) == 1  # the team does not narrow purchases


def test_an_answer_row_links_its_customer_and_ticket_and_shows_the_comment(manager_user):
    customer = CustomerFactory(name="Ana <b>Ruiz</b>")
    ticket = Ticket.objects.create(customer=customer, subject="Late parcel")
    nps_answer(4, text="Too slow <script>alert(1)</script>", customer=customer, ticket=ticket)

    html = client_for(manager_user).get(URL.format("nps"), MARCH).content.decode()

    customer_url = reverse("customers:detail", args=[customer.pk])
    assert f'<a href="{customer_url}">Ana &lt;b&gt;Ruiz&lt;/b&gt;</a>' in html
    assert "<script>alert(1)</script>" not in html
    assert (
        f'<a href="{reverse("desk:ticket_detail", args=[ticket.pk])}">{ticket.reference}</a>'
        in html
    )
    assert "Too slow" in html


def test_a_ticket_row_links_the_desk_ticket_and_credits_the_solver(manager_user):
    solver = agent(username="sol", first_name="Sol", last_name="Vega")
    ticket = Ticket.objects.create(
        customer=CustomerFactory(),
        subject="Refund please",
        created_at=MID_MARCH - timedelta(hours=5),
        first_response_at=MID_MARCH - timedelta(hours=4),
        solved_at=MID_MARCH,
        solved_by=solver,
        assignee=agent(username="other"),
        status=Ticket.Status.SOLVED,
    )

    response = client_for(manager_user).get(URL.format("resolution_time"), MARCH)

    row = dict(zip(response.context["headers"], response.context["rows"][0], strict=True))
    assert row["Ticket"][:2] == (
        ticket.reference,
        reverse("desk:ticket_detail", args=[ticket.pk]),
    )
    assert row["Agent"][0] == "Sol Vega"
    assert row["Resolution time"][0] == "5 h 00 min"
    assert row["First response time"][0] == "1 h 00 min"


def test_parts_are_offered_as_tabs_and_the_current_one_is_marked(manager_user):
    nps_answer(10)

    response = client_for(manager_user).get(URL.format("nps"), {**MARCH, "part": "promoters"})

    labels = [(str(label), active) for label, _url, active in response.context["parts"]]
    assert labels == [
        ("All", False),
        ("Promoters", True),
        ("Passives", False),
        ("Detractors", False),
    ]


def test_answers_may_be_narrowed_to_one_score(manager_user):
    for score in (7, 7, 8):
        nps_answer(score)

    response = client_for(manager_user).get(URL.format("nps"), {**MARCH, "score": "7"})

    assert len(response.context["rows"]) == 2
    assert "with a score of 7" in response.content.decode()


def test_a_figure_without_rows_says_so(manager_user):
    response = client_for(manager_user).get(URL.format("churn_rate"), MARCH)

    assert response.status_code == 200
    assert "data-empty" in response.content.decode()


def test_the_rows_come_fifty_a_page_without_counting_twice(manager_user):
    for _index in range(51):
        nps_answer(5)
    client = client_for(manager_user)

    first = client.get(URL.format("nps"), MARCH)
    second = client.get(URL.format("nps") + first.context["next_url"])

    assert len(first.context["rows"]) == 50
    assert first.context["previous_url"] is None
    assert len(second.context["rows"]) == 1
    assert second.context["next_url"] is None
    assert "51 answers" in second.content.decode()


# --- A fixed number of queries, whatever the data size


SCORES = {"nps": (10, 8, 3), "csat": (5, 1), "ces": (7, 2)}


def grow(copies: int) -> None:
    """`copies` more of everything a drill-down lists, in March and in the segment
    "smb", every part of every figure among them: answers (with comments) on resolved
    tickets, invitations answered or not, follow-ups closed or open, customers kept,
    lost or acquired, leads, purchases of every kind."""
    team = TeamFactory()
    someone = agent(username=f"agent{Team.objects.count()}")
    survey, _created = Survey.objects.get_or_create(name="After support")
    questions = {
        kind: Question.objects.get_or_create(
            survey=survey, type=kind, defaults={"text_en": kind, "text_es": kind}
        )[0]
        for kind in ("nps", "csat", "ces", "text")
    }
    for index in range(copies):
        odd = index % 2 == 1
        became = MID_MARCH - timedelta(days=100 if odd else 1)
        customer = PayingCustomerFactory(segment="smb", became_customer_at=became)
        ticket = Ticket.objects.create(
            customer=customer,
            subject="Broken",
            team=team,
            assignee=someone,
            solved_by=someone,
            status=Ticket.Status.SOLVED,
            created_at=MID_MARCH - timedelta(hours=3),
            first_response_at=MID_MARCH - timedelta(hours=2),
            solved_at=MID_MARCH,
            reopen_count=index % 2,
            first_response_due_at=MID_MARCH - timedelta(hours=3 if odd else 1),
            first_response_business_s=3600.0,
            resolution_business_s=7200.0,
        )
        Message.objects.create(ticket=ticket, body="Hello", author_agent=someone)
        invitation = Invitation.objects.create(
            survey=survey,
            customer=customer,
            ticket=ticket,
            status=Invitation.Status.SENT,
            sent_at=MID_MARCH,
        )
        Invitation.objects.create(  # never answered
            survey=survey, customer=customer, status=Invitation.Status.SENT, sent_at=MID_MARCH
        )
        response = Response.objects.create(
            survey=survey,
            invitation=invitation,
            customer=customer,
            ticket=ticket,
            team=team,
            agent=someone,
            segment="smb",
            channel="email",
            answered_at=MID_MARCH + timedelta(hours=1),
            follow_up_ticket=Ticket.objects.create(customer=customer, subject="Call back"),
            loop_closed_at=MID_MARCH + timedelta(days=1) if odd else None,
        )
        for kind, question in questions.items():
            scores = SCORES.get(kind)
            Answer.objects.create(
                response=response,
                question=question,
                question_type=kind,
                score=scores[index % len(scores)] if scores else None,
                text="" if scores else "Not great",
            )
        if odd:
            Customer.objects.filter(pk=customer.pk).update(
                stage=Customer.Stage.CHURNED, churned_at=MID_MARCH
            )
        lead = CustomerFactory(segment="smb")
        Customer.objects.filter(pk=lead.pk).update(
            created_at=MID_MARCH - timedelta(days=1),
            **({"stage": Customer.Stage.CUSTOMER, "became_customer_at": MID_MARCH} if odd else {}),
        )
        for kind in Purchase.Kind.values:
            PurchaseFactory(customer=customer, occurred_at=MID_MARCH, kind=kind)
    # The stage updates above bypass save(), as a bulk UPDATE would: the nightly
    # reconciliation (here, at once) brings the customers' lifecycle facts up to date.
    lifecycle.refresh()


def test_each_drill_down_page_takes_the_same_queries_at_any_data_size(
    manager_user, django_assert_max_num_queries
):
    client = client_for(manager_user)
    pages = [
        (metric, {**MARCH, **({"part": part} if part else {}), "team": "", "segment": "smb"})
        for metric, drill in DRILLS.items()
        for part in (None, *drill.parts)
    ]
    grow(2)  # every part has a row: the KPIs' own queries (medians…) all run
    budgets = {}
    for metric, query in pages:
        with django_assert_max_num_queries(40) as queries:
            assert client.get(URL.format(metric), query).status_code == 200
        budgets[metric, query.get("part")] = len(queries.captured_queries)

    grow(8)

    for metric, query in pages:
        with django_assert_max_num_queries(budgets[metric, query.get("part")]):
            response = client.get(URL.format(metric), query)
        assert len(response.context["rows"]) > 1, (metric, query.get("part"))


def test_the_csv_of_every_drill_down_reads_its_rows_without_a_query_per_row(
    manager_user, django_assert_max_num_queries
):
    client = client_for(manager_user)
    grow(12)
    for metric, drill in DRILLS.items():
        for part in (None, *drill.parts):
            query = {**MARCH, **({"part": part} if part else {}), "format": "csv"}
            # Session, user, permissions, the form's choices and the rows: never one per row.
            with django_assert_max_num_queries(10):
                rows = csv_rows(client.get(URL.format(metric), query))
            assert len(rows) > 3, (metric, part)


# --- The CSV export


def test_the_csv_holds_every_row_with_formula_like_text_neutralised(manager_user):
    sneaky = CustomerFactory(name='=HYPERLINK("http://evil.example")')
    nps_answer(0, text="@SUM(A1)", customer=sneaky)
    for _index in range(60):
        nps_answer(9)

    response = client_for(manager_user).get(
        URL.format("nps"), {**MARCH, "part": "detractors", "format": "csv"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="nps-detractors-2026-03-01-2026-03-31.csv"'
    )
    header, *rows = csv_rows(response)
    assert header[:4] == ["Answered", "Score", "Comment", "Customer"]
    assert rows == [
        [
            "2026-03-15T11:00:00+01:00",
            "0",
            "'@SUM(A1)",
            '\'=HYPERLINK("http://evil.example")',
            str(sneaky.pk),
            "",
            "After support",
            "",
            "",
            "",
            "",
        ]
    ]
    everyone = client_for(manager_user).get(URL.format("nps"), {**MARCH, "format": "csv"})
    assert len(csv_rows(everyone)) == 1 + 61  # every row, not one page
