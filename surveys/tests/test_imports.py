"""import_responses, run as a user runs it: real files written to disk, call_command."""

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.signals import response_recorded
from tickets.models import Ticket
from tickets.tests.factories import TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

HEADER = "customer_external_id,survey,question_type,score,comment,answered_at,ticket_external_id\n"


@pytest.fixture(autouse=True)
def madrid_time(settings):
    settings.TIME_ZONE = "Europe/Madrid"


@pytest.fixture
def ana(db):
    return CustomerFactory(external_id="C-1", name="Ana García", language="es", segment="smb")


@pytest.fixture
def bob(db):
    return CustomerFactory(external_id="C-2", name="Bob Smith", language="en", segment="b2b")


@pytest.fixture
def solved_ticket(ana):
    laura = agent(username="laura")
    billing = TeamFactory(name="Billing", members=[laura])
    return TicketFactory(
        customer=ana,
        external_id="T-9",
        team=billing,
        assignee=laura,
        channel="chat",
        category="billing",
        priority="high",
    )


@pytest.fixture
def recorded():
    """The responses announced through surveys.signals.response_recorded."""
    announced = []

    def listener(sender, response, **kwargs):
        announced.append(response.pk)

    response_recorded.connect(listener, dispatch_uid="test_imports")
    yield announced
    response_recorded.disconnect(dispatch_uid="test_imports")


def write(tmp_path: Path, content: str, name: str = "responses.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def run(path: Path, *args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("import_responses", str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def refusal(path: Path, *args: str) -> str:
    with pytest.raises(CommandError) as raised:
        run(path, *args)
    return str(raised.value)


def test_a_good_file_stores_each_answer_like_a_native_one(tmp_path, ana, bob, solved_ticket):
    path = write(
        tmp_path,
        HEADER
        + "C-1,Soporte 2023,csat,2,Tardaron mucho,2023-11-05 10:00,T-9\n"
        + "C-1,Soporte 2023,ces,3,,2023-11-05 10:00,T-9\n"
        + "C-1,Soporte 2023,yes_no,sí,,2023-11-05 10:00,T-9\n"
        + "C-2,NPS 2023,nps,3,Too expensive,2023-12-01T09:30:00Z,\n"
        + "C-2,NPS 2023,text,,Please add an API,2023-12-01T09:30:00Z,\n",
    )

    stdout, _ = run(path)

    assert f"{path}: 5 rows — 5 created, 0 updated, 0 skipped in " in stdout
    support = Response.objects.get(customer=ana)
    assert support.source == Response.Source.IMPORT
    assert support.invitation is None
    assert support.survey.name == "Soporte 2023"
    # Madrid is UTC+1 in November.
    assert support.answered_at == datetime(2023, 11, 5, 9, 0, tzinfo=UTC)
    assert support.language == "es"
    assert support.segment == "smb"
    assert support.ticket == solved_ticket
    assert (support.team, support.agent, support.channel, support.category, support.priority) == (
        solved_ticket.team,
        solved_ticket.assignee,
        "chat",
        "billing",
        "high",
    )
    assert sorted(support.answers.values_list("question_type", "score", "text")) == [
        ("ces", 3, ""),
        ("csat", 2, "Tardaron mucho"),
        ("yes_no", 1, ""),
    ]
    nps = Response.objects.get(customer=bob)
    assert (nps.language, nps.ticket, nps.team, nps.channel) == ("en", None, None, "")
    assert sorted(nps.answers.values_list("question_type", "score", "text")) == [
        ("nps", 3, "Too expensive"),
        ("text", None, "Please add an API"),
    ]
    # A detractor and a poor CSAT from the past open no follow-up and email nobody.
    assert not Response.objects.filter(follow_up_ticket__isnull=False).exists()
    assert Ticket.objects.count() == 1
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_a_survey_named_in_the_file_is_created_inactive_with_a_question_of_each_type(
    tmp_path, ana, bob
):
    path = write(
        tmp_path,
        HEADER
        + "C-1,Delighted NPS,nps,10,,2024-01-10,\n"
        + "C-2,delighted nps,nps,7,,2024-01-11,\n"
        + "C-2,Delighted NPS,text,,Great,2024-01-11,\n",
    )

    run(path)

    survey = Survey.objects.get()
    assert survey.name == "Delighted NPS"
    assert not survey.is_active
    questions = list(survey.questions.order_by("position"))
    assert [(q.type, q.required) for q in questions] == [("nps", True), ("text", False)]
    assert questions[0].text_es and questions[0].text_en
    assert Answer.objects.filter(question=questions[0]).count() == 2


def test_scores_outside_the_question_scale_and_bad_cells_are_row_errors_with_lines(tmp_path, ana):
    path = write(
        tmp_path,
        HEADER
        + "C-1,S,nps,10,,2024-01-10,\n"
        + "C-1,S,nps,11,,2024-01-11,\n"
        + "C-1,S,csat,0,,2024-01-12,\n"
        + "C-1,S,ces,8,,2024-01-13,\n"
        + "C-1,S,yes_no,maybe,,2024-01-14,\n"
        + "C-1,S,stars,4,,2024-01-15,\n"
        + "C-1,S,text,3,,2024-01-16,\n"
        + "C-1,S,csat,,,yesterday,\n"
        + "C-1,S,csat,4.5,,2099-01-01,\n",
    )

    message = refusal(path)

    assert "8 rows have errors, so nothing was imported" in message
    assert f"{path}:3: score: “11” is not a nps score: use a whole number from 0 to 10." in message
    assert f"{path}:4: score: “0” is not a csat score: use a whole number from 1 to 5." in message
    assert f"{path}:5: score: “8” is not a ces score: use a whole number from 1 to 7." in message
    assert f"{path}:6: score: “maybe” is not a yes/no answer" in message
    assert f"{path}:7: question_type: “stars” is not allowed; use one of: nps, csat, ces" in message
    assert f"{path}:8: score: A free-text answer has no score; leave the score empty." in message
    assert f"{path}:8: comment: A free-text answer needs its text in the comment column." in message
    assert f"{path}:9: score: A csat answer needs a score." in message
    assert f"{path}:9: answered_at: “yesterday” is not a date in ISO 8601 format" in message
    assert f"{path}:10: answered_at: It is in the future." in message
    assert not Response.objects.exists()
    assert not Survey.objects.exists()


@pytest.mark.parametrize(
    ("text", "score"),
    [("yes", 1), ("Sí", 1), ("si", 1), ("TRUE", 1), ("1", 1), ("no", 0), ("false", 0), ("0", 0)],
)
def test_yes_no_answers_accept_words_in_english_and_spanish(tmp_path, ana, text, score):
    path = write(tmp_path, HEADER + f"C-1,Resolved?,yes_no,{text},,2024-02-01,\n")

    run(path)

    assert Answer.objects.get().score == score


def test_an_existing_survey_checks_scores_against_its_own_configured_scale(tmp_path, ana):
    survey = Survey.objects.create(name="Effort")
    Question.objects.create(
        survey=survey, type="ces", text_en="How hard?", text_es="¿Cuánto costó?", scale_max=10
    )
    path = write(
        tmp_path, HEADER + "C-1,Effort,ces,9,,2024-02-01,\nC-1,Effort,ces,11,,2024-02-02,\n"
    )

    message = refusal(path)

    assert f"{path}:3: score: “11” is not a ces score: use a whole number from 1 to 10." in message
    assert f"{path}:2:" not in message


def test_an_active_survey_gets_no_new_question_from_an_import(tmp_path, ana):
    survey = Survey.objects.create(name="Live CSAT", is_active=True)
    Question.objects.create(survey=survey, type="csat", text_en="Happy?", text_es="¿Contento?")
    path = write(
        tmp_path,
        HEADER + "C-1,Live CSAT,csat,5,Bien,2024-02-01,\nC-1,Live CSAT,nps,9,,2024-02-01,\n",
    )

    message = refusal(path)

    assert f"{path}:3: question_type: The active survey “Live CSAT” has no nps question" in message
    assert survey.questions.count() == 1
    assert not Response.objects.exists()


def test_reimporting_updates_the_answers_without_duplicating_them(tmp_path, ana, recorded):
    first = write(
        tmp_path,
        HEADER + "C-1,NPS,nps,6,Caro,2024-03-01 12:00,\nC-1,NPS,text,,Nada más,2024-03-01 12:00,\n",
    )
    run(first)
    assert len(recorded) == 2
    recorded.clear()
    second = write(
        tmp_path,
        HEADER
        + "C-1,NPS,nps,8,Mejor,2024-03-01 12:00,\n"
        + "C-1,NPS,text,,Nada más,2024-03-01 12:00,\n",
        name="again.csv",
    )

    stdout, _ = run(second)

    assert "2 rows — 0 created, 2 updated, 0 skipped" in stdout
    response = Response.objects.get()
    assert sorted(response.answers.values_list("question_type", "score", "text")) == [
        ("nps", 8, "Mejor"),
        ("text", None, "Nada más"),
    ]
    assert Answer.objects.count() == 2
    # Only the row that changed something is announced to analytics.
    assert recorded == [response.pk]


def test_reimporting_without_the_comment_column_keeps_the_comments(tmp_path, ana):
    run(write(tmp_path, HEADER + "C-1,NPS,nps,6,Caro,2024-03-01,\n"))

    run(
        write(
            tmp_path,
            "customer_external_id,survey,question_type,score,answered_at\nC-1,NPS,nps,7,2024-03-01\n",
            name="scores.csv",
        )
    )

    assert list(Answer.objects.values_list("score", "text")) == [(7, "Caro")]


def test_the_same_answer_twice_in_one_file_names_the_first_line(tmp_path, ana):
    path = write(
        tmp_path, HEADER + "C-1,NPS,nps,9,,2024-03-01,\nC-1,nps,nps,10,,2024-03-01T00:00+01:00,\n"
    )

    message = refusal(path)

    assert (
        f"{path}:3: Same customer_external_id, survey, question_type, answered_at as line 2."
        in message
    )


def test_unknown_customers_and_tickets_are_row_errors_naming_the_value(tmp_path, ana, bob):
    TicketFactory(customer=bob, external_id="T-BOB")
    path = write(
        tmp_path,
        HEADER
        + "C-404,NPS,nps,9,,2024-03-01,\n"
        + "C-1,NPS,nps,9,,2024-03-01,T-404\n"
        + "C-1,NPS,nps,9,,2024-03-02,T-BOB\n",
    )

    message = refusal(path)

    assert f"{path}:2: customer_external_id: No customer has the external id “C-404”" in message
    assert f"{path}:3: ticket_external_id: No ticket has the external id “T-404”" in message
    assert f"{path}:4: ticket_external_id: Ticket “T-BOB” belongs to another customer." in message
    assert not Response.objects.exists()


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad_ones(tmp_path, ana):
    path = write(
        tmp_path,
        HEADER
        + "C-1,NPS,nps,9,,2024-03-01,\n"
        + "C-404,NPS,nps,9,,2024-03-01,\n"
        + "C-1,NPS,nps,10,,2024-03-02,\n",
    )

    stdout, stderr = run(path, "--skip-invalid")

    assert f"{path}:3: customer_external_id: No customer has the external id “C-404”" in stderr
    assert "3 rows — 2 created, 0 updated, 1 skipped" in stdout
    assert sorted(Answer.objects.values_list("score", flat=True)) == [9, 10]


def test_missing_required_columns_are_named_and_nothing_is_imported(tmp_path, ana):
    path = write(tmp_path, "customer_external_id,survey,score\nC-1,NPS,9\n")

    message = refusal(path)

    assert "question_type" in message and "answered_at" in message
    assert not Survey.objects.exists()
