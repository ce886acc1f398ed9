"""Benchmark: customers answering surveys, 50 at a time, against gunicorn on PostgreSQL.

    .venv/bin/pip install --no-build-isolation -e ".[bench]"   # locust, once
    .venv/bin/python bench/load_survey.py                # 10,000 invitations, 50 clients, 30 s
    .venv/bin/python bench/load_survey.py --duration 10 --flow post

Builds a throwaway PostgreSQL database (DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/cxm_bench_load), migrates it and bulk-creates
--invitations sent invitations to an NPS survey (each for its own customer and solved
ticket; tokens from the model's default, as the services make them). Starts gunicorn
with 2 * cores + 1 workers and production settings (DEBUG off, no HTTPS redirect; Redis
for the broker and the cache when BENCH_REDIS_URL, default redis://127.0.0.1:6379,
answers: databases 13 and 12, emptied before and after), then locust, headless, with
--clients users for --duration seconds. Each user takes invitations from one shared
pool and answers them as the email's one-click link does: GET the page with the score
chosen, POST the form (--flow post: one GET per user for its CSRF cookie, then POSTs
only). Every client comes from 127.0.0.1, so the run raises the per-address limit of
the public survey pages with CXM_SURVEY_RATE_LIMITS (the per-invitation one stays).

Reports submissions per second, p50/p95/p99 of the submission (and of the page), errors,
and then checks the database: stored responses against successful submissions (they
must be equal: nothing lost, nothing doubled) and each stored score against the last
one the customer sent. Prints a one-line summary; writes bench/results/load_survey.json.
Targets (issue 6): at least 300 submissions/s, p99 under 150 ms, no errors.
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
import random  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

import harness  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cxm_bench_load"
RAISED_IP_LIMIT = "ip=1000000/60"
TARGETS = {"submissions_per_second": 300, "submit_p99_ms": 150, "errors": 0}
# The request names bench/locustfiles/survey.py gives locust.
PAGE, SUBMIT = "GET /s/<token>/", "POST /s/<token>/"


def build(count: int) -> dict:
    """A team of five agents, `count` solved tickets each from its own customer, and a
    sent, open invitation to the NPS survey for each."""
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from accounts.models import User
    from customers.models import Customer
    from cxm import roles
    from surveys.models import Invitation, Question, Survey
    from tickets.models import Team, Ticket

    survey = Survey.objects.create(name="NPS after support", is_active=True)
    nps = Question.objects.create(
        survey=survey,
        type=Question.Type.NPS,
        position=1,
        text_en="How likely are you to recommend us to a friend?",
        text_es="¿Con qué probabilidad nos recomendarías a un amigo?",
    )
    text = Question.objects.create(
        survey=survey,
        type=Question.Type.TEXT,
        position=2,
        required=False,
        text_en="What could we do better?",
        text_es="¿Qué podríamos mejorar?",
    )
    team = Team.objects.create(name="Support")
    agents = [User(username=f"agent{n}", first_name=f"Agent {n}") for n in range(5)]
    for agent in agents:
        agent.set_unusable_password()
    agents = User.objects.bulk_create(agents)
    Group.objects.get(name=roles.AGENT).user_set.add(*agents)
    team.members.add(*agents)

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
                team=team,
                assignee=agents[n % len(agents)],
                solved_by=agents[n % len(agents)],
                created_at=now - timedelta(days=1),
                first_response_at=now - timedelta(hours=20),
                solved_at=now - timedelta(hours=2),
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
                status=Invitation.Status.SENT,
                send_after=now - timedelta(hours=1),
                sent_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=14),
            )
            for ticket in tickets
        ),
        batch_size=2000,
    )
    tokens = list(Invitation.objects.values_list("token", flat=True))
    random.shuffle(tokens)
    return {"tokens": tokens, "nps_question": nps.pk, "text_question": text.pk}


def stored_answers(nps_question: int) -> dict[str, int | None]:
    """token → the NPS score stored for it, for every response to an invitation."""
    from surveys.models import Answer, Response

    scores = dict(
        Answer.objects.filter(question_id=nps_question).values_list(
            "response__invitation__token", "score"
        )
    )
    tokens = Response.objects.filter(invitation__isnull=False).values_list(
        "invitation__token", flat=True
    )
    return {token: scores.get(token) for token in tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=10_000, help="sent invitations")
    parser.add_argument("--clients", type=int, default=50, help="concurrent customers")
    parser.add_argument("--duration", type=int, default=30, help="seconds of load")
    parser.add_argument(
        "--workers", type=int, default=harness.web_workers(), help="gunicorn workers"
    )
    parser.add_argument(
        "--flow",
        choices=("page", "post"),
        default="page",
        help="page: GET then POST per invitation (default); post: POST only, after one GET",
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    folder = harness.scratch_folder("survey")
    use_redis = harness.redis_available()
    env = harness.server_env(
        url, folder, use_redis=use_redis, CXM_SURVEY_RATE_LIMITS=RAISED_IP_LIMIT
    )
    os.environ.update(env)
    print(
        f"== rate limit per client address raised for this run: "
        f"CXM_SURVEY_RATE_LIMITS={RAISED_IP_LIMIT} (all {args.clients} clients are "
        f"127.0.0.1); per invitation: the default",
        flush=True,
    )
    print(
        "== broker and cache: "
        + (
            f"Redis ({harness.REDIS_URL}, db {harness.BROKER_DB} and {harness.CACHE_DB})"
            if use_redis
            else "none answered: filesystem broker, per-process cache"
        ),
        flush=True,
    )
    print(f"== building {args.invitations:,} sent invitations in {url}", flush=True)
    started = time.perf_counter()
    harness.bench_queue().recreate_database(url)
    harness.migrate(env)
    import django

    django.setup()
    from django.db import connection

    setup = build(args.invitations)
    connection.cursor().execute("ANALYZE")
    connection.close()
    print(f"   built in {time.perf_counter() - started:.0f} s", flush=True)

    if use_redis:
        harness.empty_redis()
    print(f"== gunicorn, {args.workers} workers (production settings, DEBUG off)", flush=True)
    server = harness.Gunicorn(env, folder, args.workers)
    try:
        # Pages only: a GET records nothing, so every invitation is still unanswered.
        warm = server.warm_up([f"/s/{token}/?score=9" for token in setup["tokens"][-20:]])
        print(f"== warmed up with {warm} page views (not measured)", flush=True)
        print(
            f"== locust: {args.clients} customers for {args.duration} s on {server.url} "
            f"(flow: {args.flow})",
            flush=True,
        )
        cpu_before = server.cpu_snapshot(url)
        generator_before = harness.children_cpu_seconds()
        result = harness.run_locust(
            "survey.py",
            host=server.url,
            users=args.clients,
            seconds=args.duration,
            setup={**setup, "origin": f"https://127.0.0.1:{server.port}", "flow": args.flow},
            folder=folder,
        )
        cpu = harness.cpu_used(cpu_before, server.cpu_snapshot(url))
        cpu["load_generator"] = round(harness.children_cpu_seconds() - generator_before, 2)
    finally:
        server.stop()
        if use_redis:
            harness.empty_redis()

    submit_times = result["times_ms"].get(SUBMIT, [])
    page_times = result["times_ms"].get(PAGE, [])
    answered: dict[str, int] = result["extra"]["answered"]
    submissions = result["extra"]["submissions"]
    window = result["window_s"]
    submitted_in_window = result["succeeded_in_window"].get(SUBMIT, 0)
    errors = sum(result["failures"].values())
    seconds = result["seconds"] or 1.0
    stored = stored_answers(setup["nps_question"])
    wrong_scores = sum(1 for token, score in answered.items() if stored.get(token) != score)
    unexpected = len(set(stored) - set(answered))
    report = {
        "invitations": args.invitations,
        "clients": args.clients,
        "duration_s": args.duration,
        "until_last_response_s": round(seconds, 2),  # first request to last answer
        "flow": args.flow,
        "web_workers": args.workers,
        "requests": sum(len(times) for times in result["times_ms"].values()),
        # Rates: requests that ended within --duration, over --duration.
        "requests_per_second": round(sum(result["in_window"].values()) / window, 1),
        "submissions": submissions,
        "submissions_per_second": round(submitted_in_window / window, 1),
        "submit": harness.latency(submit_times),
        "page": harness.latency(page_times),
        "errors": errors,
        "error_kinds": result["error_kinds"],
        "server_tracebacks": server.errors_logged(),
        "cpu_seconds": cpu,
        # What one answered survey costs the web and database processes, whatever else
        # runs on the machine (per submission, with its page in the default flow).
        "cpu_ms_per_submission": {
            kind: round(1000 * cpu[kind] / max(submissions, 1), 2) for kind in ("web", "database")
        },
        "distinct_invitations_answered": len(answered),
        "stored_responses": len(stored),
        "stored_scores_differing_from_last_sent": wrong_scores,
        "stored_responses_nobody_was_told_of": unexpected,
        "rate_limit_setting": f"CXM_SURVEY_RATE_LIMITS={RAISED_IP_LIMIT}",
        "broker_and_cache": "redis" if use_redis else "filesystem broker, local memory cache",
        "database": "postgresql",
        "machine": harness.machine(),
        "targets": TARGETS,
    }
    # Each invitation holds one response (revisions replace it): when the pool was not
    # exhausted, that is one stored response per successful submission.
    report["responses_match_submissions"] = (
        len(stored) == len(answered)
        and wrong_scores == 0
        and unexpected == 0
        and (submissions == len(answered) or submissions > args.invitations)
    )
    report["meets_targets"] = (
        report["submissions_per_second"] >= TARGETS["submissions_per_second"]
        and report["submit"].get("p99_ms", float("inf")) < TARGETS["submit_p99_ms"]
        and errors == TARGETS["errors"]
        and report["responses_match_submissions"]
    )
    out = harness.write_result("load_survey", report)
    shutil.rmtree(folder, ignore_errors=True)  # its logs matter only when a run fails
    submit = report["submit"]
    print(
        f"\n{submissions:,} submissions in {args.duration} s: "
        f"{report['submissions_per_second']:,.0f}/s "
        f"({report['requests_per_second']:,.0f} requests/s with the pages), submit "
        f"p50 {submit.get('p50_ms')} / p95 {submit.get('p95_ms')} / p99 {submit.get('p99_ms')} "
        f"ms, {errors} errors; server CPU {report['cpu_ms_per_submission']['web']} ms web + "
        f"{report['cpu_ms_per_submission']['database']} ms database per submission; "
        f"stored responses {len(stored):,} for {len(answered):,} "
        f"answered invitations ({'equal' if report['responses_match_submissions'] else 'MISMATCH'}"
        f"); targets {'met' if report['meets_targets'] else 'MISSED'}; {out}"
    )


if __name__ == "__main__":
    main()
