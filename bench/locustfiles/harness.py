"""What bench/load_survey.py and bench/load_desk.py share: a production-like gunicorn on
loopback, the locust run that loads it, and the figures drawn from the raw timings.

The web processes run cxm.settings.production with DEBUG off and no HTTPS redirect; the
load generator talks to them as the TLS-terminating proxy in front would (it sets
X-Forwarded-Proto: https), so the secure cookies, CSRF origin checks and HSTS headers are
the production ones. Nothing here listens on or talks to anything but 127.0.0.1.
"""

import importlib.util
import json
import os
import platform
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILES = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
# The bench's own Redis databases: emptied before and after each run.
BROKER_DB, CACHE_DB = 13, 12


def bench_queue() -> ModuleType:
    """bench/queue.py, imported under another name (as "queue" it would shadow the
    standard library's module)."""
    spec = importlib.util.spec_from_file_location("bench_queue", ROOT / "bench" / "queue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_workers() -> int:
    return 2 * (os.cpu_count() or 1) + 1


def _redis(db: int):
    import redis

    return redis.Redis.from_url(f"{REDIS_URL}/{db}", socket_connect_timeout=2)


def redis_available() -> bool:
    try:
        return bool(_redis(BROKER_DB).ping())
    except Exception:  # any failure means "run without it"
        return False


def empty_redis() -> None:
    for db in (BROKER_DB, CACHE_DB):
        _redis(db).flushdb()


def broker_queue_length() -> int:
    """Tasks waiting in the broker's default queue (no worker runs during a bench)."""
    return int(_redis(BROKER_DB).llen("celery"))


def server_env(database_url: str, folder: Path, *, use_redis: bool, **extra: str) -> dict:
    """The environment of the web processes (and of this process, so that sessions it
    creates are signed with the same key)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cxm.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "CXM_VAR_DIR": str(folder),
        "EMAIL_URL": "",
        "EMAIL_HOST": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Emails and other jobs are queued to the broker after commit; no worker runs.
        "CELERY_BROKER_URL": f"{REDIS_URL}/{BROKER_DB}" if use_redis else "",
        "CACHE_URL": f"{REDIS_URL}/{CACHE_DB}" if use_redis else "",
        **extra,
    }
    return env


def scratch_folder(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"cxm-bench-{name}-"))


def migrate(env: dict) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        env=env,
        cwd=ROOT,
    )


class Gunicorn:
    """gunicorn serving cxm.wsgi on 127.0.0.1:<free port>, as docker-compose runs it."""

    def __init__(self, env: dict, folder: Path, workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "gunicorn.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "cxm.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={workers}",
            "--timeout=60",
            "--backlog=512",
            f"--access-logfile={folder / 'access.log'}",
            f"--error-logfile={self.log}",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_healthy()

    def _wait_until_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited: see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz/", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer /healthz/ within {timeout:.0f} s: {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def warm_up(self, paths: list[str], *, cookies: str = "", rounds: int = 3) -> int:
        """GET each path `rounds` times, several at once so every worker gets some,
        before anything is measured: a fresh worker compiles its templates and loads
        its translations on its first requests. Returns how many requests were made."""
        from concurrent.futures import ThreadPoolExecutor

        headers = {"X-Forwarded-Proto": "https", **({"Cookie": cookies} if cookies else {})}

        def get(path: str) -> None:
            request = urllib.request.Request(self.url + path, headers=headers)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                    answer.read()
            except urllib.error.HTTPError:
                pass

        every = [path for _round in range(rounds) for path in paths]
        with ThreadPoolExecutor(max_workers=2 * self.workers) as pool:
            list(pool.map(get, every))
        return len(every)

    def cpu_snapshot(self, database_url: str) -> dict[str, dict[int, float]]:
        """CPU seconds used so far by each web worker and by each of their database
        backends: the cost per request, which other load on a shared machine does not
        skew the way it skews latency."""
        import psutil
        import psycopg

        workers = psutil.Process(self.process.pid).children()
        name = urlparse(database_url).path.lstrip("/")
        with psycopg.connect(database_url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            ).fetchall()
        return {
            "web": _cpu(worker.pid for worker in workers),
            "database": _cpu(pid for (pid,) in rows),
        }

    def errors_logged(self) -> int:
        """Tracebacks the web processes wrote (a 500 logs one)."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("Traceback (most recent call last)")


def _cpu(pids) -> dict[int, float]:
    import psutil

    used = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:  # it ended meanwhile
            continue
        used[pid] = times.user + times.system
    return used


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds between two snapshots, per kind of process."""
    return {
        kind: round(
            sum(seconds - before[kind].get(pid, 0.0) for pid, seconds in after[kind].items()), 2
        )
        for kind in after
    }


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (the locust run, once it is over)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_locust(
    locustfile: str, *, host: str, users: int, seconds: int, setup: dict, folder: Path
) -> dict:
    """Run `locustfile` headless with `users` users started at once for `seconds`, then
    let each finish the request it is in (so no answer is stored that the client never
    heard of). Returns what bench/locustfiles/recorder.py wrote."""
    setup_file = folder / "setup.json"
    setup_file.write_text(json.dumps({**setup, "run_seconds": seconds}))
    result_file = folder / "locust-result.json"
    env = {
        **os.environ,
        "CXM_BENCH_SETUP": str(setup_file),
        "CXM_BENCH_RESULT": str(result_file),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILES / locustfile),
        "--headless",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--stop-timeout",
        "30",
        "--only-summary",
        "--loglevel",
        "ERROR",
        "--exit-code-on-error",
        "0",
    ]
    log = folder / "locust.log"
    with log.open("wb") as output:
        # Progress lines go to our stdout; locust's own summary table to its log.
        completed = subprocess.run(command, cwd=ROOT, env=env, stdout=None, stderr=output)
    if completed.returncode != 0 or not result_file.exists():
        raise SystemExit(f"locust failed (exit {completed.returncode}): see {log}")
    return json.loads(result_file.read_text())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency(times_ms: list[float]) -> dict:
    if not times_ms:
        return {"count": 0}
    return {
        "count": len(times_ms),
        "p50_ms": round(percentile(times_ms, 0.50), 1),
        "p95_ms": round(percentile(times_ms, 0.95), 1),
        "p99_ms": round(percentile(times_ms, 0.99), 1),
        "max_ms": round(max(times_ms), 1),
    }


def machine() -> str:
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{platform.node()} {os.cpu_count()} cores{load}, Python {platform.python_version()}"


def write_result(name: str, report: dict) -> Path:
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out
