"""import_tickets, run as a user runs it: real files written to disk, call_command."""

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.tests.factories import agent
from customers.tests.factories import CustomerFactory
from tickets.models import Ticket, TicketEvent
from tickets.tests.factories import TeamFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "external_id,customer_external_id,subject,channel,priority,category,team,"
    "assignee_username,created_at,first_response_at,solved_at,closed_at,reopen_count\n"
)


@pytest.fixture(autouse=True)
def madrid_time(settings):
    settings.TIME_ZONE = "Europe/Madrid"


@pytest.fixture
def ana(db):
    return CustomerFactory(external_id="C-1", name="Ana")


@pytest.fixture
def support(agent_user):
    """Team "Support" with the user "agent" in it."""
    return TeamFactory(name="Support", members=[agent_user])


def write(tmp_path: Path, content: str, name: str = "tickets.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def run(path: Path, *args: str, command: str = "import_tickets") -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(command, str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def refusal(path: Path, *args: str) -> str:
    with pytest.raises(CommandError) as raised:
        run(path, *args)
    return str(raised.value)


def test_each_ticket_gets_the_status_its_timestamps_say_and_an_import_event(tmp_path, ana, support):
    path = write(
        tmp_path,
        HEADER
        + "T-1,C-1,Nobody answered,email,,,,,2024-05-01T09:00:00Z,,,,\n"
        + "T-2,C-1,Assigned only,chat,high,billing,Support,agent,2024-05-01 11:00,,,,\n"
        + "T-3,C-1,Answered,phone,,,,,2024-05-01T09:00:00Z,2024-05-01T09:30:00Z,,,\n"
        + "T-4,C-1,Solved,web,urgent,,Support,agent,2024-05-01T09:00:00Z,"
        + "2024-05-01T09:30:00Z,2024-05-02T09:00:00Z,,1\n"
        + "T-5,C-1,Closed,EMAIL,Low,,,,2024-05-01,,2024-05-03,2024-05-10,\n",
    )

    stdout, _ = run(path)

    assert "5 rows — 5 created, 0 updated, 0 skipped" in stdout
    tickets = {ticket.external_id: ticket for ticket in Ticket.objects.all()}
    assert {external_id: ticket.status for external_id, ticket in tickets.items()} == {
        "T-1": Ticket.Status.NEW,
        "T-2": Ticket.Status.OPEN,
        "T-3": Ticket.Status.OPEN,
        "T-4": Ticket.Status.SOLVED,
        "T-5": Ticket.Status.CLOSED,
    }
    assigned = tickets["T-2"]
    assert (assigned.channel, assigned.priority, assigned.category) == ("chat", "high", "billing")
    assert (assigned.team, assigned.assignee.username) == (support, "agent")
    # Without a zone, Madrid time (UTC+2 in May).
    assert assigned.created_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    solved = tickets["T-4"]
    assert solved.solved_at == datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    assert (solved.solved_by.username, solved.reopen_count) == ("agent", 1)
    closed = tickets["T-5"]
    assert (closed.channel, closed.priority) == ("email", "low")
    assert closed.closed_at == datetime(2024, 5, 9, 22, 0, tzinfo=UTC)
    for ticket in tickets.values():
        assert list(ticket.events.values_list("kind", "to_value")) == [
            (TicketEvent.Kind.IMPORTED, ticket.status)
        ]


def test_reimporting_updates_the_tickets_without_duplicating_them(tmp_path, ana):
    run(write(tmp_path, HEADER + "T-1,C-1,Printer on fire,,,,,,2024-05-01,,,,\n"))

    stdout, _ = run(
        write(
            tmp_path,
            HEADER + "T-1,C-1,Printer on fire (solved),,,,,,2024-05-01,,2024-05-02,,\n",
            name="again.csv",
        )
    )

    assert "1 row — 0 created, 1 updated, 0 skipped" in stdout
    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.status) == ("Printer on fire (solved)", Ticket.Status.SOLVED)
    assert ticket.events.filter(kind=TicketEvent.Kind.IMPORTED).count() == 2


def test_reimporting_without_the_optional_columns_keeps_team_and_assignee(tmp_path, ana, support):
    run(write(tmp_path, HEADER + "T-1,C-1,Help,,,,Support,agent,2024-05-01,,,,\n"))

    run(
        write(
            tmp_path,
            "external_id,customer_external_id,subject,created_at\nT-1,C-1,Help!,2024-05-01\n",
            name="subjects.csv",
        )
    )

    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.team, ticket.assignee.username) == ("Help!", support, "agent")


def test_tickets_can_be_imported_right_after_their_customers(tmp_path):
    customers = write(tmp_path, "external_id,name\nC-7,Zoe\n", name="customers.csv")
    tickets = write(tmp_path, HEADER + "T-1,C-7,Hello,,,,,,2024-05-01,,,,\n")

    run(customers, command="import_customers")
    run(tickets)

    assert Ticket.objects.get().customer.name == "Zoe"


def test_unknown_references_are_row_errors_naming_the_value(tmp_path, ana, support):
    agent(username="outsider")
    path = write(
        tmp_path,
        HEADER
        + "T-1,C-404,Who?,,,,,,2024-05-01,,,,\n"
        + "T-2,C-1,Which team?,,,,Sales,,2024-05-01,,,,\n"
        + "T-3,C-1,Which agent?,,,,,ghost,2024-05-01,,,,\n"
        + "T-4,C-1,Wrong team,,,,Support,outsider,2024-05-01,,,,\n",
    )

    message = refusal(path)

    assert f"{path}:2: customer_external_id: No customer has the external id “C-404”" in message
    assert f"{path}:3: team: No team is called “Sales”." in message
    assert f"{path}:4: assignee_username: No user has the username “ghost”." in message
    assert f"{path}:5: assignee_username: outsider is not a member of team Support." in message
    assert Ticket.objects.count() == 0


def test_invalid_choices_and_counts_say_what_is_allowed(tmp_path, ana):
    path = write(
        tmp_path,
        HEADER
        + "T-1,C-1,Fax,fax,,,,,2024-05-01,,,,\n"
        + "T-2,C-1,Hurry,,asap,,,,2024-05-01,,,,\n"
        + "T-3,C-1,Again,,,,,,2024-05-01,,,,-1\n",
    )

    message = refusal(path)

    assert (
        f"{path}:2: channel: “fax” is not allowed; use one of: "
        "email, phone, chat, web, social, in_person." in message
    )
    assert f"{path}:3: priority: “asap” is not allowed; use one of: low, normal" in message
    assert f"{path}:4: reopen_count: Ensure this value is greater than or equal to 0." in message


def test_an_error_raised_while_writing_rolls_the_whole_file_back(tmp_path, ana):
    # The service refuses a ticket solved before it was created.
    path = write(
        tmp_path,
        HEADER
        + "T-1,C-1,Fine,,,,,,2024-05-01,,,,\n"
        + "T-2,C-1,Time travel,,,,,,2024-05-03,,2024-05-02,,\n",
    )

    message = refusal(path)

    assert "1 row has errors, so nothing was imported" in message
    assert f"{path}:3: solved_at: It is earlier than created_at." in message
    assert Ticket.objects.count() == 0


def test_an_error_raised_while_writing_skips_only_that_row_with_skip_invalid(tmp_path, ana):
    path = write(
        tmp_path,
        HEADER
        + "T-1,C-1,Fine,,,,,,2024-05-01,,,,\n"
        + "T-2,C-1,Time travel,,,,,,2024-05-03,,2024-05-02,,\n"
        + "T-3,C-1,Also fine,,,,,,2024-05-01,,,,\n",
    )

    stdout, stderr = run(path, "--skip-invalid")

    assert f"{path}:3: solved_at: It is earlier than created_at." in stderr
    assert "3 rows — 2 created, 0 updated, 1 skipped" in stdout
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"T-1", "T-3"}
    assert not TicketEvent.objects.filter(ticket__external_id="T-2").exists()


def test_a_ticket_id_twice_in_one_file_names_both_lines(tmp_path, ana):
    path = write(
        tmp_path,
        HEADER + "T-1,C-1,One,,,,,,2024-05-01,,,,\nT-1,C-1,Two,,,,,,2024-05-01,,,,\n",
    )

    message = refusal(path, "--skip-invalid")

    assert f"{path}:3: external_id: “T-1” is already on line 2." in message
    assert Ticket.objects.count() == 0
