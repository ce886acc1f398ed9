"""Benchmark: 20 agents working the desk at once, against gunicorn on PostgreSQL.

    .venv/bin/pip install --no-build-isolation -e ".[bench]"   # locust, once
    .venv/bin/python bench/load_desk.py                  # 100,000 tickets, 20 agents, 60 s
    .venv/bin/python bench/load_desk.py --reuse --duration 20 --think 0

Builds a throwaway PostgreSQL database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/cxm_bench_desk) with bench/queue.py's generator
(the demo data at --tickets tickets; --reuse keeps a database that already has them),
adds agents until there are --agents and opens a session for each (as their login
would; the login page itself, throttled per address, is not part of the load). Starts
gunicorn with 2 * cores + 1 workers and production settings (DEBUG off, no HTTPS
redirect; Redis for the broker and the cache when BENCH_REDIS_URL, default
redis://127.0.0.1:6379, answers: databases 13 and 12, emptied before and after), then
locust, headless: each agent reads queue views (all, mine, SLA sort, filters, search,
a later page), opens tickets it may see and replies to open ones, three reads of each
kind per reply, pausing --think seconds on average between clicks, for --duration.

Reports p50/p95/p99 per request type, errors, and then checks the database: stored
replies against successful reply POSTs (equal: nothing lost, nothing doubled) and,
with Redis, the reply emails queued for the worker. Prints a one-line summary; writes
bench/results/load_desk.json. Target (issue 6): p95 of reads under 200 ms, no errors.
"""

import sys
from pathlib import Path

# bench/queue.py would shadow the standard library's queue module: keep this folder off
# the path; the helpers live in bench/locustfiles/.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE / "locustfiles"))
sys.path.insert(0, str(HERE.parent))

import argparse  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import harness  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cxm_bench_desk"
TARGETS = {"read_p95_ms": 200, "errors": 0}
# The queue views bench/queue.py times one by one.
QUEUE_PAGES = [
    ["all", "/desk/?view=all"],
    ["all, page 5", "/desk/?view=all&page=5"],
    ["mine", "/desk/?view=mine"],
    ["SLA sort", "/desk/?view=all&sort=sla"],
    ["open, high", "/desk/?view=all&status=open&priority=high"],
    ["search", "/desk/?view=all&q=factura"],
]
REPLY = "POST reply"
SAMPLE = 500  # tickets each agent picks from


def has_tickets(url: str, count: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            (held,) = connection.execute("SELECT count(*) FROM tickets_ticket").fetchone()
    except psycopg.Error:
        return False
    return held >= count


def agents_with_sessions(count: int) -> list[dict]:
    """`count` agents (the demo's, then new ones in its teams), each with a session and
    the tickets it may see."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from accounts.models import User
    from cxm import roles
    from tickets.models import Team, Ticket
    from tickets.selectors import tickets_visible_to

    group = Group.objects.get(name=roles.AGENT)
    agents = list(group.user_set.filter(is_active=True).order_by("pk")[:count])
    teams = list(Team.objects.order_by("pk"))
    for n in range(len(agents), count):
        agent = User.objects.create(
            username=f"bench.agent.{n:02d}", first_name="Bench", last_name=f"Agent {n}"
        )
        agent.set_unusable_password()
        agent.save(update_fields=["password"])
        agent.groups.add(group)
        if teams:
            teams[n % len(teams)].members.add(agent)
        agents.append(agent)
    working = []
    for agent in agents:
        browser = Client()
        browser.force_login(agent, backend="django.contrib.auth.backends.ModelBackend")
        visible = tickets_visible_to(agent).order_by("?")
        working.append(
            {
                "username": agent.username,
                "session": browser.cookies["sessionid"].value,
                "tickets": list(visible.values_list("pk", flat=True)[:SAMPLE]),
                "open_tickets": list(
                    visible.exclude(status=Ticket.Status.CLOSED).values_list("pk", flat=True)[
                        :SAMPLE
                    ]
                ),
            }
        )
    return working


def stored_replies(marker: str) -> dict:
    from tickets.models import Message

    replies = Message.objects.filter(kind=Message.Kind.REPLY, body__endswith=marker)
    return {
        "stored": replies.count(),
        "email_queued": replies.filter(email_status=Message.EmailStatus.QUEUED).count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets in the database")
    parser.add_argument("--agents", type=int, default=20, help="concurrent agents")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds between an agent's clicks (0: no pause at all)",
    )
    parser.add_argument(
        "--workers", type=int, default=harness.web_workers(), help="gunicorn workers"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database if it has the tickets already"
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    folder = harness.scratch_folder("desk")
    use_redis = harness.redis_available()
    env = harness.server_env(url, folder, use_redis=use_redis)
    os.environ.update(env)
    print(
        "== broker and cache: "
        + (
            f"Redis ({harness.REDIS_URL}, db {harness.BROKER_DB} and {harness.CACHE_DB})"
            if use_redis
            else "none answered: filesystem broker, per-process cache"
        ),
        flush=True,
    )
    import django

    django.setup()
    started = time.perf_counter()
    if args.reuse and has_tickets(url, args.tickets):
        print(f"== reusing {url}: it has {args.tickets:,} tickets or more", flush=True)
        harness.migrate(env)
    else:
        print(f"== building {args.tickets:,} tickets in {url} (bench/queue.py)", flush=True)
        harness.bench_queue().build(url, args.tickets, env)
    from django.db import connection

    agents = agents_with_sessions(args.agents)
    connection.close()
    print(
        f"   ready in {time.perf_counter() - started:.0f} s: {len(agents)} agents signed in",
        flush=True,
    )

    if use_redis:
        harness.empty_redis()
    marker = f"[bench {secrets.token_hex(4)}]"
    print(f"== gunicorn, {args.workers} workers (production settings, DEBUG off)", flush=True)
    server = harness.Gunicorn(env, folder, args.workers)
    try:
        first = agents[0]
        warm = server.warm_up(
            [path for _name, path in QUEUE_PAGES]
            + [f"/desk/tickets/{pk}/" for pk in first["tickets"][:6]],
            cookies=f"sessionid={first['session']}",
        )
        print(f"== warmed up with {warm} page views (not measured)", flush=True)
        print(
            f"== locust: {args.agents} agents for {args.duration} s on {server.url}, "
            f"{args.think:g} s between clicks on average",
            flush=True,
        )
        cpu_before = server.cpu_snapshot(url)
        generator_before = harness.children_cpu_seconds()
        result = harness.run_locust(
            "desk.py",
            host=server.url,
            users=args.agents,
            seconds=args.duration,
            setup={
                "agents": agents,
                "queue_pages": QUEUE_PAGES,
                "origin": f"https://127.0.0.1:{server.port}",
                "marker": marker,
                "think_seconds": args.think,
            },
            folder=folder,
        )
        cpu = harness.cpu_used(cpu_before, server.cpu_snapshot(url))
        cpu["load_generator"] = round(harness.children_cpu_seconds() - generator_before, 2)
    finally:
        server.stop()
        queued_tasks = harness.broker_queue_length() if use_redis else None
        if use_redis:
            harness.empty_redis()

    times = result["times_ms"]
    reads = [t for name, values in times.items() if name.startswith("GET") for t in values]
    queue_reads = [
        t for name, values in times.items() if name.startswith("GET queue") for t in values
    ]
    requests = sum(len(values) for values in times.values())
    seconds = result["seconds"] or 1.0
    errors = sum(result["failures"].values())
    replies = result["extra"]["replies"]
    stored = stored_replies(marker)
    report = {
        "tickets": args.tickets,
        "agents": args.agents,
        "think_seconds": args.think,
        "duration_s": args.duration,
        "until_last_response_s": round(seconds, 2),  # first request to last answer
        "web_workers": args.workers,
        "requests": requests,
        # Requests that ended within --duration, over --duration.
        "requests_per_second": round(sum(result["in_window"].values()) / result["window_s"], 1),
        "reads": harness.latency(reads),
        "queue_reads": harness.latency(queue_reads),
        "by_request": {name: harness.latency(values) for name, values in sorted(times.items())},
        "errors": errors,
        "errors_by_request": result["failures"],
        "error_kinds": result["error_kinds"],
        "server_tracebacks": server.errors_logged(),
        "cpu_seconds": cpu,
        # What one request costs the web and database processes, whatever else runs on
        # the machine.
        "cpu_ms_per_request": {
            kind: round(1000 * cpu[kind] / max(requests, 1), 2) for kind in ("web", "database")
        },
        "successful_replies": replies,
        "stored_replies": stored["stored"],
        "reply_emails_queued": stored["email_queued"],
        "tasks_left_in_broker": queued_tasks,
        "broker_and_cache": "redis" if use_redis else "filesystem broker, local memory cache",
        "database": "postgresql",
        "machine": harness.machine(),
        "targets": TARGETS,
    }
    report["replies_match"] = stored["stored"] == replies
    report["meets_targets"] = (
        report["reads"].get("p95_ms", float("inf")) < TARGETS["read_p95_ms"]
        and errors == TARGETS["errors"]
        and report["replies_match"]
    )
    out = harness.write_result("load_desk", report)
    shutil.rmtree(folder, ignore_errors=True)  # its logs matter only when a run fails
    for name, figures in report["by_request"].items():
        print(
            f"  {name:<24} {figures['count']:>6,}  p50 {figures['p50_ms']:>7.1f}  "
            f"p95 {figures['p95_ms']:>7.1f}  p99 {figures['p99_ms']:>7.1f} ms  "
            f"errors {result['failures'].get(name, 0)}"
        )
    r = report["reads"]
    print(
        f"\n{requests:,} requests in {args.duration} s ({report['requests_per_second']:,.0f}/s) "
        f"from {args.agents} agents on {args.tickets:,} tickets: reads p50 {r.get('p50_ms')} / "
        f"p95 {r.get('p95_ms')} / p99 {r.get('p99_ms')} ms, {errors} errors; "
        f"server CPU {report['cpu_ms_per_request']['web']} ms web + "
        f"{report['cpu_ms_per_request']['database']} ms database per request; "
        f"{stored['stored']:,} stored replies for {replies:,} sent "
        f"({'equal' if report['replies_match'] else 'MISMATCH'}); "
        f"targets {'met' if report['meets_targets'] else 'MISSED'}; {out}"
    )


if __name__ == "__main__":
    main()
