"""manage.py customer_export and customer_erase as an operator uses them: JSON on the
standard output or in a file, a confirmation typed by hand, clear errors (exit code 1)
for an unknown or already erased customer."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from privacy.models import ErasureRecord

from .conftest import BODY, EMAIL, EXTERNAL_ID, NAME

pytestmark = pytest.mark.django_db


def run(*args, answer: str | None = None, monkeypatch=None) -> str:
    if monkeypatch is not None:
        monkeypatch.setattr("builtins.input", lambda prompt="": answer)
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_export_prints_the_customers_data_as_json(held):
    export = json.loads(run("customer_export", EXTERNAL_ID))

    assert export["customer"]["email"] == EMAIL
    assert BODY in [m["body"] for t in export["tickets"] for m in t["messages"]]


def test_export_writes_a_utf8_file_when_asked(held, tmp_path):
    target = tmp_path / "zelda.json"

    printed = run("customer_export", EXTERNAL_ID, "--output", str(target))

    assert printed == ""
    assert json.loads(target.read_text(encoding="utf-8"))["customer"]["name"] == NAME


@pytest.mark.parametrize("command", ["customer_export", "customer_erase"])
def test_an_unknown_external_id_is_a_clear_error_with_exit_code_1(db, command):
    with pytest.raises(CommandError, match="No customer has the external id “NOPE-1”") as error:
        run(command, "NOPE-1", *(["--yes"] if command == "customer_erase" else []))

    assert error.value.returncode == 1


def test_erase_asks_to_type_the_external_id_and_erases(held, monkeypatch):
    prompts = []

    def answer(prompt=""):
        prompts.append(prompt)
        return f"  {EXTERNAL_ID} "

    monkeypatch.setattr("builtins.input", answer)
    out = StringIO()
    call_command("customer_erase", EXTERNAL_ID, stdout=out)

    assert NAME in out.getvalue()  # the operator sees whom they are erasing
    assert prompts == ["Type the external id to confirm: "]
    held.customer.refresh_from_db()
    assert held.customer.email == ""
    record = ErasureRecord.objects.get()
    assert record.actor is None
    assert record.actor_name.startswith("manage.py")
    assert record.reason == "The customer asked for their data to be erased."


@pytest.mark.parametrize("typed", ["", "ZQ-0002", "yes"])
def test_erase_without_the_right_confirmation_erases_nothing(held, monkeypatch, typed):
    with pytest.raises(CommandError, match="Not confirmed"):
        run("customer_erase", EXTERNAL_ID, answer=typed, monkeypatch=monkeypatch)

    held.customer.refresh_from_db()
    assert held.customer.email == EMAIL
    assert not ErasureRecord.objects.exists()


def test_erase_with_no_terminal_to_answer_erases_nothing(held, monkeypatch):
    def closed_input(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", closed_input)

    with pytest.raises(CommandError, match="Not confirmed"):
        run("customer_erase", EXTERNAL_ID)

    assert not ErasureRecord.objects.exists()


def test_erase_with_yes_asks_nothing_and_records_the_reason(held, monkeypatch):
    def no_input(prompt=""):
        raise AssertionError("asked for confirmation")

    monkeypatch.setattr("builtins.input", no_input)

    printed = run("customer_erase", EXTERNAL_ID, "--yes", "--reason", "Ticket DPO-12")

    assert "Erased" in printed
    assert ErasureRecord.objects.get().reason == "Ticket DPO-12"


def test_a_second_erasure_or_export_says_the_customer_was_erased_before(held):
    run("customer_erase", EXTERNAL_ID, "--yes")

    for command in (("customer_erase", EXTERNAL_ID, "--yes"), ("customer_export", EXTERNAL_ID)):
        with pytest.raises(CommandError, match="was erased on") as error:
            run(*command)
        assert error.value.returncode == 1
    assert ErasureRecord.objects.count() == 1
