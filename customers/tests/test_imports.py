"""import_customers and import_purchases, run as a user runs them: real files, call_command."""

import csv
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from customers.models import Customer, LifecycleChange, Purchase

pytestmark = pytest.mark.django_db

CUSTOMER_HEADER = (
    "external_id,name,email,phone,language,segment,stage,became_customer_at,churned_at\n"
)


@pytest.fixture(autouse=True)
def madrid_time(settings):
    settings.TIME_ZONE = "Europe/Madrid"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def run(command: str, path: Path, *args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(command, str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def refusal(command: str, path: Path, *args: str) -> str:
    with pytest.raises(CommandError) as raised:
        run(command, path, *args)
    return str(raised.value)


# -- customers ---------------------------------------------------------------------------


def test_good_customer_file_imports_every_row_with_its_values(tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        CUSTOMER_HEADER
        + "C-1,Ana García,ana@example.com,+34 600 111 222,ES,retail,,,\n"
        + "C-2,Bob Smith,bob@example.com,,en,b2b,customer,2024-01-05 09:30,\n"
        + "C-3,Carla Ruiz,,,,,churned,2023-02-01T10:00:00Z,2024-06-30T18:00:00-05:00\n",
    )

    stdout, _ = run("import_customers", path)

    assert f"{path}: 3 rows — 3 created, 0 updated, 0 skipped in " in stdout
    ana, bob, carla = Customer.objects.order_by("external_id")
    assert (ana.name, ana.email, ana.phone, ana.language, ana.segment, ana.stage) == (
        "Ana García",
        "ana@example.com",
        "+34 600 111 222",
        "es",
        "retail",
        Customer.Stage.LEAD,
    )
    assert ana.became_customer_at is None
    # Without a zone, a time is Madrid time (UTC+1 in January).
    assert bob.stage == Customer.Stage.CUSTOMER
    assert bob.language == "en"
    assert bob.became_customer_at == datetime(2024, 1, 5, 8, 30, tzinfo=UTC)
    assert carla.stage == Customer.Stage.CHURNED
    assert carla.became_customer_at == datetime(2023, 2, 1, 10, 0, tzinfo=UTC)
    assert carla.churned_at == datetime(2024, 6, 30, 23, 0, tzinfo=UTC)
    assert LifecycleChange.objects.filter(customer=carla, to_stage="churned").exists()


def test_a_date_without_time_means_midnight_in_the_configured_time_zone(tmp_path):
    path = write(tmp_path, "customers.csv", CUSTOMER_HEADER + "C-1,Ana,,,,,customer,2024-07-01,\n")

    run("import_customers", path)

    # Midnight in Madrid in summer (UTC+2) is 22:00 UTC the day before.
    assert Customer.objects.get().became_customer_at == datetime(2024, 6, 30, 22, 0, tzinfo=UTC)


def test_reimporting_updates_the_customers_without_duplicating_them(tmp_path):
    first = write(tmp_path, "customers.csv", CUSTOMER_HEADER + "C-1,Ana,,,,,,,\nC-2,Bob,,,,,,,\n")
    run("import_customers", first)
    second = write(
        tmp_path, "customers2.csv", CUSTOMER_HEADER + "C-1,Ana María,,,,,,,\nC-2,Bob,,,,,,,\n"
    )

    stdout, _ = run("import_customers", second)

    assert "2 rows — 0 created, 2 updated, 0 skipped" in stdout
    assert Customer.objects.count() == 2
    assert Customer.objects.get(external_id="C-1").name == "Ana María"


def test_bad_rows_are_reported_by_line_and_column_and_nothing_is_imported(tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        CUSTOMER_HEADER
        + "C-1,Ana,ana@example.com,,,,,,\n"
        # A quoted value across two physical lines: the next row starts on line 5.
        + 'C-2,"Bob\nSmith",not-an-email,,,,,,\n'
        + "C-3,Carla,,,fr,,,,\n"
        + "C-4,Dan,,,,,customer,,\n"
        + "C-5,,,,,,,yesterday,\n",
    )

    message = refusal("import_customers", path)

    assert "4 rows have errors, so nothing was imported" in message
    assert f"{path}:3: email: Enter a valid email address." in message
    assert f"{path}:5: language: “fr” is not allowed; use one of: en, es." in message
    assert f"{path}:6: became_customer_at: A customer at stage “customer” needs" in message
    assert f"{path}:7: name: This field cannot be blank." in message
    assert f"{path}:7: became_customer_at: “yesterday” is not a date in ISO 8601" in message
    assert Customer.objects.count() == 0


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad_ones(tmp_path):
    path = write(
        tmp_path,
        "customers.csv",
        CUSTOMER_HEADER + "C-1,Ana,,,,,,,\nC-2,Bob,bob@,,,,,,\nC-3,Carla,,,,,,,\n",
    )

    stdout, stderr = run("import_customers", path, "--skip-invalid")

    assert f"{path}:3: email: Enter a valid email address." in stderr
    assert "3 rows — 2 created, 0 updated, 1 skipped" in stdout
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"C-1", "C-3"}


def test_columns_may_come_in_any_order_and_unknown_ones_are_ignored_with_a_warning(tmp_path):
    path = write(tmp_path, "customers.csv", "Name,vip,External ID,notes\nAna,yes,C-1,likes cats\n")

    _, stderr = run("import_customers", path)

    assert "ignoring unknown columns: vip, notes" in stderr
    customer = Customer.objects.get()
    assert (customer.external_id, customer.name, customer.stage) == ("C-1", "Ana", "lead")


def test_reimporting_without_the_lifecycle_columns_keeps_each_customers_stage(tmp_path):
    run(
        "import_customers",
        write(tmp_path, "full.csv", CUSTOMER_HEADER + "C-1,Ana,,,,,customer,2024-01-05,\n"),
    )

    run("import_customers", write(tmp_path, "names.csv", "external_id,name\nC-1,Ana Mª\n"))

    customer = Customer.objects.get()
    assert customer.name == "Ana Mª"
    assert customer.stage == Customer.Stage.CUSTOMER
    assert customer.became_customer_at is not None


def test_a_semicolon_separated_spreadsheet_export_is_read(tmp_path):
    path = write(tmp_path, "customers.csv", "external_id;name;email\nC-1;García, Ana;a@x.es\n")

    run("import_customers", path)

    assert Customer.objects.get().name == "García, Ana"


def test_missing_required_columns_are_named_and_nothing_is_imported(tmp_path):
    path = write(tmp_path, "customers.csv", "id,email\n1,a@example.com\n")

    message = refusal("import_customers", path)

    assert "the required columns external_id, name are missing (found: id, email)" in message
    assert Customer.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused_with_the_line_of_the_bad_byte(tmp_path):
    content = (CUSTOMER_HEADER + "C-1,Ana,,,,,,,\nC-2,José,,,,,,,\n").encode("latin-1")
    path = write(tmp_path, "customers.csv", content)

    message = refusal("import_customers", path)

    assert f"{path}:3: the file is not UTF-8 text (byte 0xe9)" in message
    assert Customer.objects.count() == 0


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = write(tmp_path, "customers.csv", "\ufeffexternal_id,name\nC-1,Ana\n")

    run("import_customers", path)

    assert Customer.objects.get().external_id == "C-1"


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_an_empty_file_is_refused(tmp_path, content):
    path = write(tmp_path, "customers.csv", content)

    assert refusal("import_customers", path) == f"{path} is empty: there is nothing to import."


def test_a_header_without_rows_is_refused(tmp_path):
    path = write(tmp_path, "customers.csv", CUSTOMER_HEADER)

    assert "has a header but no rows" in refusal("import_customers", path)


def test_a_missing_file_is_refused(tmp_path):
    path = tmp_path / "nowhere.csv"

    assert refusal("import_customers", path) == f"{path}: no such file."


def test_a_spreadsheet_file_is_refused_as_not_csv(tmp_path):
    path = write(tmp_path, "customers.xlsx", b"PK\x03\x04\x14\x00\x06\x00binary")

    assert "is a spreadsheet or zip file, not CSV" in refusal("import_customers", path)


def test_a_file_with_nul_characters_is_refused_as_not_csv(tmp_path):
    path = write(tmp_path, "customers.csv", b"external_id,name\nC-1,\x00\x00\x00\n")

    assert "is not a CSV text file" in refusal("import_customers", path)


def test_an_external_id_twice_in_one_file_names_both_lines_and_imports_nothing(tmp_path):
    path = write(tmp_path, "customers.csv", "external_id,name\nC-1,Ana\nC-2,Bob\nC-1,Ana again\n")

    message = refusal("import_customers", path)

    assert f"{path}:4: external_id: “C-1” is already on line 2." in message
    assert Customer.objects.count() == 0


def test_a_value_larger_than_the_csv_field_limit_is_refused(tmp_path):
    # An unclosed quote swallows the rest of the file into one enormous value.
    path = write(
        tmp_path,
        "customers.csv",
        'external_id,name\nC-1,Ana\nC-2,"Bob\n' + "x" * (csv.field_size_limit() + 10) + "\n",
    )

    message = refusal("import_customers", path)

    assert message.startswith(f"{path}:3: a value is longer than")
    assert Customer.objects.count() == 0


def test_a_row_with_more_values_than_the_header_is_a_row_error(tmp_path):
    path = write(tmp_path, "customers.csv", "external_id,name\nC-1,Ana,extra\n")

    message = refusal("import_customers", path)

    assert f"{path}:2: The row has 3 values but the header has 2 columns." in message


def test_the_error_list_is_capped_with_a_count_of_the_rest(tmp_path):
    rows = "".join(f"C-{n},Name {n},bad-email\n" for n in range(60))
    path = write(tmp_path, "customers.csv", "external_id,name,email\n" + rows)

    message = refusal("import_customers", path)

    assert "60 rows have errors" in message
    assert message.count("Enter a valid email address.") == 50
    assert message.endswith("… and 10 more.")


# -- purchases ---------------------------------------------------------------------------

PURCHASE_HEADER = "customer_external_id,occurred_at,amount,margin,currency,kind\n"


@pytest.fixture
def customers_file(tmp_path):
    return write(
        tmp_path,
        "customers.csv",
        CUSTOMER_HEADER + "C-1,Ana,,,,,customer,2024-01-01,\nC-2,Bob,,,,,,,\n",
    )


def test_purchases_can_be_imported_right_after_their_customers(tmp_path, customers_file):
    purchases = write(
        tmp_path,
        "purchases.csv",
        PURCHASE_HEADER
        + "C-1,2024-03-01T10:00:00+01:00,120.50,40.25,usd,renewal\n"
        + "C-2,2024-03-02,99,30,,\n",
    )

    run("import_customers", customers_file)
    stdout, _ = run("import_purchases", purchases)

    assert "2 rows — 2 created, 0 updated, 0 skipped" in stdout
    renewal = Purchase.objects.get(customer__external_id="C-1")
    assert renewal.occurred_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    assert (renewal.amount, renewal.margin, renewal.currency, renewal.kind) == (
        Decimal("120.50"),
        Decimal("40.25"),
        "USD",
        "renewal",
    )
    default = Purchase.objects.get(customer__external_id="C-2")
    assert (default.currency, default.kind) == ("EUR", "new")


def test_purchases_are_idempotent_on_customer_time_and_kind(tmp_path, customers_file):
    run("import_customers", customers_file)
    run(
        "import_purchases",
        write(tmp_path, "p1.csv", PURCHASE_HEADER + "C-1,2024-03-01T10:00:00+01:00,100,30,,new\n"),
    )

    # The same instant written in UTC, a new amount, and another kind at that instant.
    stdout, _ = run(
        "import_purchases",
        write(
            tmp_path,
            "p2.csv",
            PURCHASE_HEADER
            + "C-1,2024-03-01T09:00:00Z,110,35,,new\n"
            + "C-1,2024-03-01T09:00:00Z,20,5,,upsell\n",
        ),
    )

    assert "2 rows — 1 created, 1 updated, 0 skipped" in stdout
    assert Purchase.objects.count() == 2
    assert Purchase.objects.get(kind="new").amount == Decimal("110.00")


def test_bad_purchase_rows_name_the_value_and_what_is_allowed(tmp_path, customers_file):
    run("import_customers", customers_file)
    path = write(
        tmp_path,
        "purchases.csv",
        PURCHASE_HEADER
        + "C-9,2024-03-01,10,1,,\n"
        + "C-1,2024-03-01,abc,1,,\n"
        + "C-1,2024-03-02,10,1,euros,gift\n"
        + "C-1,,10,1,,\n",
    )

    message = refusal("import_purchases", path)

    assert f"{path}:2: customer_external_id: No customer has the external id “C-9”" in message
    assert f"{path}:3: amount: “abc” value must be a decimal number." in message
    assert f"{path}:4: currency: “euros” is not a three-letter currency code" in message
    assert (
        f"{path}:4: kind: “gift” is not allowed; use one of: new, renewal, upsell, cross_sell."
        in message
    )
    assert f"{path}:5: occurred_at: This value is required." in message
    assert Purchase.objects.count() == 0


def test_the_same_purchase_twice_in_one_file_is_a_row_error(tmp_path, customers_file):
    run("import_customers", customers_file)
    path = write(
        tmp_path,
        "purchases.csv",
        PURCHASE_HEADER + "C-1,2024-03-01,10,1,,\nC-1,2024-03-01T00:00:00+01:00,12,1,,new\n",
    )

    stdout, stderr = run("import_purchases", path, "--skip-invalid")

    assert f"{path}:3: Same customer_external_id, occurred_at, kind as line 2." in stderr
    assert "1 skipped" in stdout
    assert Purchase.objects.get().amount == Decimal("10.00")
