"""Benchmark: survey invitations sent per second by one Celery worker.

    .venv/bin/python bench/dispatch.py                  # 10,000 invitations, a real worker
    .venv/bin/python bench/dispatch.py --in-process     # the service in this process
    .venv/bin/python bench/dispatch.py --count 2000

Builds a throwaway PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/cxm_bench_dispatch), bulk-creates --count due
invitations (each to its own customer, after a ticket, an NPS question and a comment
box), starts a local SMTP sink (aiosmtpd on loopback that counts messages) and one
`celery -A cxm worker -P solo` on kombu's filesystem transport, sends it the dispatch
task that beat sends every minute, and times until the sink has every email. Prints
progress, emails per second and a one-line summary; writes bench/results/dispatch.json.
Target: at least 100 emails per second on a 2-core machine, reusing SMTP connections.
"""

import sys
from pathlib import Path

# bench/queue.py would shadow the standard library's queue module (psycopg and kombu
# import it): run without this folder on the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cxm_bench_dispatch"
TARGET_PER_SECOND = 100


class Sink:
    """An SMTP server that counts messages and connections, nothing more."""

    def __init__(self) -> None:
        self.messages = 0
        self.connections: set[tuple] = set()
        self.invitation_ids: set[str] = set()
        self.duplicates = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        header = b"\nX-CXM-Invitation: "
        start = envelope.content.find(header)
        invitation = b""
        if start >= 0:
            end = envelope.content.find(b"\n", start + len(header))
            invitation = envelope.content[start + len(header) : end].strip()
        with self.lock:
            self.messages += 1
            self.connections.add(session.peer)
            if invitation in self.invitation_ids:
                self.duplicates += 1
            self.invitation_ids.add(invitation)
        await asyncio.sleep(0)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def build(count: int) -> None:
    """`count` due invitations, each for a solved ticket of its own customer."""
    from django.utils import timezone

    from customers.models import Customer
    from surveys.models import Invitation, Question, Survey
    from tickets.models import Ticket

    survey = Survey.objects.create(name="NPS after support", is_active=True)
    Question.objects.create(
        survey=survey,
        type=Question.Type.NPS,
        position=1,
        text_en="How likely are you to recommend us to a friend?",
        text_es="¿Con qué probabilidad nos recomendarías a un amigo?",
    )
    Question.objects.create(
        survey=survey,
        type=Question.Type.TEXT,
        position=2,
        required=False,
        text_en="What could we do better?",
        text_es="¿Qué podríamos mejorar?",
    )
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        (
            Customer(
                name=f"Cliente {n}",
                email=f"cliente{n}@example.com",
                language="es" if n % 3 else "en",
            )
            for n in range(count)
        ),
        batch_size=2000,
    )
    tickets = Ticket.objects.bulk_create(
        (
            Ticket(
                customer=customer,
                subject=f"Pedido {n} sin entregar",
                status=Ticket.Status.SOLVED,
                created_at=now - timedelta(days=1),
                solved_at=now,
            )
            for n, customer in enumerate(customers)
        ),
        batch_size=2000,
    )
    Invitation.objects.bulk_create(
        (
            Invitation(
                survey=survey,
                customer=ticket.customer,
                ticket=ticket,
                language=ticket.customer.language,
                send_after=now - timedelta(minutes=1),
                expires_at=now + timedelta(days=14),
            )
            for ticket in tickets
        ),
        batch_size=2000,
    )


def unfinished() -> bool:
    from surveys.models import Invitation

    return Invitation.objects.filter(
        status__in=[Invitation.Status.SCHEDULED, Invitation.Status.SENDING]
    ).exists()


def start_worker(env: dict, folder: Path) -> subprocess.Popen:
    log = (folder / "worker.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cxm",
            "worker",
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process


def wait_for(sink: Sink, count: int, started: float, timeout: float) -> None:
    last = -1.0
    while sink.messages < count:
        elapsed = time.perf_counter() - started
        if elapsed > timeout:
            raise SystemExit(f"only {sink.messages:,} of {count:,} emails after {timeout:.0f} s")
        if elapsed - last >= 2:
            rate = sink.messages / elapsed if elapsed else 0
            print(f"   {elapsed:5.1f} s  {sink.messages:>6,} emails  ({rate:,.0f}/s)", flush=True)
            last = elapsed
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="due invitations")
    parser.add_argument(
        "--in-process", action="store_true", help="call the service here instead of a worker"
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up after (s)")
    args = parser.parse_args()

    from aiosmtpd.controller import Controller

    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    folder = Path(tempfile.mkdtemp(prefix="cxm-bench-dispatch-"))
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "cxm.settings.local",
        "DEBUG": "false",
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CXM_VAR_DIR": str(folder),
        "EMAIL_URL": "",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    print(f"== building {args.count:,} due invitations in {url}", flush=True)
    build_started = time.perf_counter()
    recreate_database(url)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    import django

    django.setup()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    build(args.count)
    from django.db import connection

    connection.cursor().execute("ANALYZE")
    print(f"   built in {time.perf_counter() - build_started:.0f} s", flush=True)

    worker = None
    try:
        if args.in_process:
            from surveys import services

            print("== sending in this process (services.invitations_dispatch_due)", flush=True)
            started = time.perf_counter()
            thread = threading.Thread(target=services.invitations_dispatch_due, daemon=True)
            thread.start()
            wait_for(sink, args.count, started, args.timeout)
            thread.join()
        else:
            from surveys.tasks import dispatch_due_invitations

            print("== starting one worker (celery -A cxm worker -P solo)", flush=True)
            worker = start_worker(env, folder)
            time.sleep(0.5)
            connection.close()
            started = time.perf_counter()
            dispatch_due_invitations.delay()  # what beat sends every minute
            wait_for(sink, args.count, started, args.timeout)
        elapsed = time.perf_counter() - started
        settle_until = time.monotonic() + 10  # the last "sent" UPDATE follows the last email
        while time.monotonic() < settle_until and unfinished():
            time.sleep(0.05)
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(timeout=10)
        controller.stop()

    from surveys.models import Invitation

    statuses = dict(
        Invitation.objects.values("status")
        .order_by("status")
        .values_list("status", django.db.models.Count("pk"))
    )
    rate = args.count / elapsed
    report = {
        "invitations": args.count,
        "emails_received": sink.messages,
        "duplicates": sink.duplicates,
        "smtp_connections": len(sink.connections),
        "seconds": round(elapsed, 2),
        "emails_per_second": round(rate, 1),
        "target_per_second": TARGET_PER_SECOND,
        "meets_target": rate >= TARGET_PER_SECOND,
        "statuses": statuses,
        "mode": "in-process" if args.in_process else "one celery worker (-P solo)",
        "database": "postgresql",
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    out = ROOT / "bench" / "results" / "dispatch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{args.count:,} invitations emailed in {elapsed:.1f} s: {rate:,.0f} emails/s "
        f"(target {TARGET_PER_SECOND}/s: {'met' if report['meets_target'] else 'MISSED'}); "
        f"{len(sink.connections)} SMTP connection(s), {sink.duplicates} duplicates; {out}"
    )


if __name__ == "__main__":
    main()
