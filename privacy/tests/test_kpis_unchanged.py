"""Erasing customers changes no KPI: every figure of analytics.selectors.kpis_compute, for
the whole company and for each dimension, over several periods, is the same before and
after a third of the demo data set's customers are erased. (The one read of analytics
the privacy app allows itself, from a test.)"""

from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Count

from analytics.filters import KpiFilter
from analytics.selectors import kpis_compute
from customers.models import Customer
from privacy import services
from privacy.models import ErasureRecord
from surveys.models import Answer, Response
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

ANCHOR = date(2025, 3, 10)


@pytest.fixture
def demo_data(time_machine):
    time_machine.move_to(datetime(2025, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Madrid")), tick=False)
    call_command(
        "seed_demo", customers=60, tickets=700, anchor=ANCHOR.isoformat(), stdout=StringIO()
    )


def filters() -> list[KpiFilter]:
    """Three periods for the whole company, and the longest one per dimension value."""
    year = KpiFilter(date_from=ANCHOR - timedelta(days=364), date_to=ANCHOR)
    chosen = [
        year,
        KpiFilter(date_from=ANCHOR - timedelta(days=89), date_to=ANCHOR),
        KpiFilter(date_from=ANCHOR - timedelta(days=29), date_to=ANCHOR),
    ]
    ticket = Ticket.objects.exclude(team=None).exclude(solved_by=None).exclude(category="").first()
    response = Response.objects.exclude(segment="").first()
    for dimension, value in (
        ("team", ticket.team_id),
        ("agent", ticket.solved_by_id),
        ("channel", ticket.channel),
        ("category", ticket.category),
        ("segment", response.segment),
        ("survey", response.survey_id),
    ):
        chosen.append(KpiFilter(**{**year.__dict__, dimension: value}))
    return chosen


def test_every_kpi_is_the_same_after_a_third_of_the_customers_are_erased(demo_data, admin_user):
    chosen = filters()
    before = [kpis_compute(f) for f in chosen]
    # Those with the most history: tickets, answers with comments, purchases, churn.
    erased = list(
        Customer.objects.annotate(ticket_count=Count("tickets"))
        .order_by("-ticket_count", "pk")
        .values_list("pk", flat=True)[:20]
    )
    assert Answer.objects.filter(response__customer__in=erased).exclude(text="").exists()
    assert Customer.objects.filter(pk__in=erased, stage=Customer.Stage.CHURNED).exists()

    for customer in Customer.objects.filter(pk__in=erased):
        services.customer_erase(customer=customer, actor=admin_user, reason="Test")

    assert ErasureRecord.objects.count() == 20
    assert not Message.objects.filter(ticket__customer__in=erased).exclude(body="").exists()
    after = [kpis_compute(f) for f in chosen]
    for kpi_filter, figures_before, figures_after in zip(chosen, before, after, strict=True):
        assert figures_after == figures_before, kpi_filter
    assert any(figures["nps"]["n"] for figures in before)  # there were figures to compare
