"""Benchmark: the agent queue and ticket pages on a large PostgreSQL database.

    .venv/bin/python bench/queue.py               # 100 tickets, then 100,000
    .venv/bin/python bench/queue.py --size 1000000

Builds a throwaway database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/cxm_bench) with the demo generator, first at 100
tickets then at --size, and measures server time (Django's test client: middleware,
views, queries and templates, no network) for the queue views and the ticket page,
with their SQL query counts. Prints the figures and writes bench/results/queue.json.
"""

import sys
from pathlib import Path

# This file is named queue.py, which would shadow the standard library's queue module
# for everything imported below: run it without its own folder on the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cxm_bench"
TARGETS_MS = {"queue_p95": 150, "ticket_p95": 100}


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, env=env)


def build(url: str, tickets: int, env: dict) -> None:
    from django.db import connections

    connections.close_all()
    recreate_database(url)
    manage("migrate", "--noinput", "-v", "0", env=env)
    customers = max(100, tickets // 20)
    manage("seed_demo", "--tickets", str(tickets), "--customers", str(customers), env=env)
    manage(
        "shell",
        "-c",
        "from django.db import connection; connection.cursor().execute('ANALYZE')",
        env=env,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(repeats: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from tickets.models import Ticket

    agent = User.objects.get(username="agent")
    client = Client()
    client.force_login(agent)
    ticket_ids = list(Ticket.objects.order_by("?").values_list("pk", flat=True)[:repeats])
    pages = {
        "queue_all": lambda i: "/desk/?view=all",
        "queue_all_page_5": lambda i: "/desk/?view=all&page=5",
        "queue_mine": lambda i: "/desk/?view=mine",
        "queue_sla_sort": lambda i: "/desk/?view=all&sort=sla",
        "queue_open_high": lambda i: "/desk/?view=all&status=open&priority=high",
        "queue_search": lambda i: "/desk/?view=all&q=factura",
        "ticket": lambda i: f"/desk/tickets/{ticket_ids[i % len(ticket_ids)]}/",
    }
    results = {}
    for name, url_for in pages.items():
        client.get(url_for(0))  # warm caches and connections
        timings, queries = [], []
        for i in range(repeats):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url_for(i))
                timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url_for(i)} answered {response.status_code}")
            queries.append(len(captured.captured_queries))
        results[name] = {
            "median_ms": round(statistics.median(timings), 1),
            "p95_ms": round(percentile(timings, 0.95), 1),
            "max_ms": round(max(timings), 1),
            "queries": max(queries),
        }
        print(
            f"  {name:<18} median {results[name]['median_ms']:>7.1f} ms   "
            f"p95 {results[name]['p95_ms']:>7.1f} ms   queries {results[name]['queries']}",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="tickets in the large run")
    parser.add_argument("--repeats", type=int, default=60, help="requests per page")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "cxm.settings.local",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    report = {"machine": f"{platform.node()} {os.cpu_count()} cores", "sizes": {}}
    started = time.perf_counter()
    for size in (100, args.size):
        print(f"\n== {size:,} tickets: building", flush=True)
        build_started = time.perf_counter()
        build(url, size, env)
        print(f"   built in {time.perf_counter() - build_started:.0f} s; measuring", flush=True)
        report["sizes"][str(size)] = measure(args.repeats)

    small, large = report["sizes"]["100"], report["sizes"][str(args.size)]
    queue_p95 = max(v["p95_ms"] for k, v in large.items() if k.startswith("queue"))
    report["summary"] = {
        "tickets": args.size,
        "queue_p95_ms": queue_p95,
        "ticket_p95_ms": large["ticket"]["p95_ms"],
        "query_counts_constant": all(small[k]["queries"] == large[k]["queries"] for k in small),
        "targets_ms": TARGETS_MS,
        "meets_targets": queue_p95 < TARGETS_MS["queue_p95"]
        and large["ticket"]["p95_ms"] < TARGETS_MS["ticket_p95"],
    }
    out = ROOT / "bench" / "results" / "queue.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    s = report["summary"]
    print(
        f"\nqueue p95 {s['queue_p95_ms']} ms, ticket p95 {s['ticket_p95_ms']} ms at "
        f"{args.size:,} tickets; query counts constant: {s['query_counts_constant']}; "
        f"targets met: {s['meets_targets']} ({time.perf_counter() - started:.0f} s, {out})"
    )


if __name__ == "__main__":
    main()
