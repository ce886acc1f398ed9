"""The survey loop with its real moving parts: a Celery worker process, a broker and an
SMTP server.

The broker is Redis when CELERY_BROKER_URL is a redis:// URL (CI) and otherwise kombu's
filesystem transport in a folder of the test's own (a laptop with no services): either
way a real `celery -A cxm worker` process takes the tasks. The SMTP server is aiosmtpd,
started here, counting what it receives. The worker and the test share the database:
the test database itself on PostgreSQL, a migrated SQLite file on SQLite (the default
in-memory test database cannot be opened from another process).

For the fault tests there are also servers of the test's own, to stop and start at will
without touching the machine's shared ones: a private redis-server, a private PostgreSQL
cluster with a gunicorn web process on it, celery beat processes and an SMTP server that
never answers.
"""

import asyncio
import email
import email.policy
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from kombu import pools as kombu_pools

from cxm.celery import app as celery_app
from cxm.roles import sync_role_groups

ROOT = Path(settings.BASE_DIR)
BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
USES_REDIS = BROKER_URL.startswith(("redis://", "rediss://"))
WORKER_BOOT_TIMEOUT = 40
SERVER_BOOT_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# --- the SMTP server ---


@dataclass
class Received:
    message: email.message.EmailMessage
    peer: tuple


@dataclass
class SMTPSink:
    """Counts and keeps every message; `delay` slows each one down like a real relay.

    `refuse_with` answers every message with that reply ("451 …", "554 …") instead of
    taking it. `hold_after(n)` takes n more messages, then keeps the next one waiting
    (`held` is set) until `release()`. A message whose sender hangs up before the reply
    is not taken (aiosmtpd cancels its handler): the sender never heard it was."""

    port: int
    delay: float = 0.0
    refuse_with: str | None = None
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: threading.Event = field(default_factory=threading.Event)
    _hold_at: int | None = None
    _released: threading.Event = field(default_factory=threading.Event)

    def hold_after(self, count: int) -> None:
        with self.lock:
            self._hold_at = len(self.messages) + count
        self.held.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._hold_at is not None and len(self.messages) >= self._hold_at:
            self.held.set()
            while not self._released.is_set():
                await asyncio.sleep(0.02)
        if self.refuse_with:
            return self.refuse_with
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(Received(message=message, peer=session.peer))
        return "250 Message accepted for delivery"

    def invitations(self) -> list[Received]:
        with self.lock:
            return [r for r in self.messages if r.message["X-CXM-Invitation"]]

    def wait_for_invitations(self, count: int, *, timeout: float = 30) -> list[Received]:
        wait_until(
            lambda: len(self.invitations()) >= count,
            timeout=timeout,
            what=f"{count} invitation email(s) at the SMTP server (got {len(self.invitations())})",
        )
        return self.invitations()


@pytest.fixture
def smtp_server() -> Iterator[SMTPSink]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    sink = SMTPSink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        sink.release()
        controller.stop()


@dataclass
class SilentSMTPServer:
    """Accepts connections and never says a word, like a relay that hangs."""

    port: int
    connections: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def silent_smtp_server() -> Iterator[SilentSMTPServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    server = SilentSMTPServer(port=listener.getsockname()[1])
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            server.connections.append(connection)  # kept open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stopping.set()
        thread.join(timeout=5)
        for connection in [*server.connections, listener]:
            connection.close()


# --- the shared database ---


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path | None:
    """One migrated SQLite file per session, copied for each test (migrating takes
    seconds; copying a file does not)."""
    if connections["default"].vendor != "sqlite":
        return None
    path = tmp_path_factory.mktemp("integration-db") / "template.sqlite3"
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cxm.settings.local",
            "DATABASE_URL": f"sqlite:///{path}",
            "CXM_VAR_DIR": str(path.parent / "var"),
        },
        timeout=120,
    )
    with sqlite3.connect(path) as database:
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def shared_database(transactional_db, migrated_sqlite_template, tmp_path) -> Iterator[str]:
    """A DATABASE_URL for the worker naming the database this test writes to, with the
    role groups in it (a transactional test database is flushed between tests)."""
    connection = connections["default"]
    if migrated_sqlite_template is None:
        sync_role_groups(apps)
        yield _database_url(connection.settings_dict)
        return
    path = tmp_path / "shared.sqlite3"
    shutil.copyfile(migrated_sqlite_template, path)
    in_memory = connection.settings_dict["NAME"]
    # Closing the last connection to the in-memory test database would drop it: hold
    # it open while this test works on the file.
    keeper = sqlite3.connect(in_memory, uri=True)
    BaseDatabaseWrapper.close(connection)
    connection.settings_dict["NAME"] = str(path)
    try:
        yield f"sqlite:///{path}"
    finally:
        BaseDatabaseWrapper.close(connection)
        connection.settings_dict["NAME"] = in_memory
        connection.ensure_connection()
        keeper.close()


# --- the broker, as the test process sees it ---


@dataclass
class Broker:
    """Where the test process publishes and the workers consume. `down()` points the
    test process at a closed port, as when Redis is unreachable; `up()` brings it back."""

    url: str
    transport_options: dict
    queue: str
    worker_env: dict

    def _use(self, url: str, transport_options: dict) -> None:
        # Publishing goes to broker_write_url, which (unlike broker_url) the
        # CELERY_BROKER_URL environment variable does not override.
        celery_app.conf.broker_url = url
        celery_app.conf.broker_write_url = url
        celery_app.conf.broker_transport_options = transport_options
        _forget_connections()

    def up(self) -> None:
        self._use(self.url, self.transport_options)

    def down(self) -> None:
        self._use(f"redis://127.0.0.1:{free_port()}/0", {})


def _forget_connections() -> None:
    """Celery keeps its broker connections and routing once made; start afresh."""
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)


def _forget_queue(channel, queue: str) -> None:
    """Leave nothing of this test's queue in a shared Redis: the queue, its bindings,
    and the message of a worker killed mid-task, which Redis would otherwise put back
    (after the visibility timeout) into a queue nobody reads any more."""
    channel.queue_delete(queue)
    client = channel.client
    client.delete(channel.keyprefix_queue % queue, channel.keyprefix_binding_permanent % queue)
    for tag, payload in client.hgetall(channel.unacked_key).items():
        _message, exchange, routing_key = json.loads(payload)
        if queue in (exchange, routing_key):
            client.zrem(channel.unacked_index_key, tag)
            client.hdel(channel.unacked_key, tag)


@pytest.fixture
def broker_url() -> str:
    """The Redis the workers and this process use (CELERY_BROKER_URL); "" for kombu's
    filesystem transport. Override it to use another, e.g. a private_redis."""
    return BROKER_URL if USES_REDIS else ""


@pytest.fixture
def broker(settings, tmp_path, broker_url) -> Iterator[Broker]:
    queue = f"cxm-integration-{uuid.uuid4().hex[:12]}"
    var_dir = tmp_path / "var"
    uses_redis = bool(broker_url)
    if uses_redis:
        url, options, worker_env = broker_url, {"visibility_timeout": 2 * 60 * 60}, {}
    else:
        folder = var_dir / "celery"
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        for name in ("queue", "processed", "control"):
            (folder / name).mkdir(parents=True)
        url, worker_env = "filesystem://", {"CELERY_BROKER_URL": ""}
    saved = {
        name: celery_app.conf[name]
        for name in (
            "broker_url",
            "broker_write_url",
            "broker_transport_options",
            "task_always_eager",
            "task_default_queue",
        )
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    found = Broker(
        url=url,
        transport_options=options,
        queue=queue,
        worker_env={**worker_env, "CXM_VAR_DIR": str(var_dir)},
    )
    found.up()
    try:
        yield found
    finally:
        if uses_redis:
            try:
                with celery_app.connection_for_write(url) as connection:
                    _forget_queue(connection.default_channel, queue)
            except Exception:  # a private Redis a failed test left stopped
                logging.getLogger(__name__).warning("queue %s not deleted", queue)
        celery_app.conf.update(saved)
        _forget_connections()


# --- the workers ---


def _service_env(broker: Broker, database_url: str) -> dict:
    """What a worker or beat process needs to share this test's database and broker."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cxm.settings.local",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CXM_BASE_URL": "http://testserver",
        "PYTHONUNBUFFERED": "1",
        **broker.worker_env,
    }


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, no cleanup of any kind."""
        self.process.kill()
        self.process.wait(timeout=10)

    def wait_ready(self) -> "Worker":
        deadline = time.monotonic() + WORKER_BOOT_TIMEOUT
        while " ready." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Celery worker {self.name} did not start:\n{self.output()[-4000:]}")
            time.sleep(0.1)
        return self

    def task_results(self, task_name: str) -> list[str]:
        """What each finished run of the task returned, from the worker's log."""
        pattern = re.escape(task_name) + r"\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: (.*)"
        return re.findall(pattern, self.output())

    def wait_for_results(self, task_name: str, count: int, *, timeout: float = 30) -> list[str]:
        wait_until(
            lambda: len(self.task_results(task_name)) >= count,
            timeout=timeout,
            what=f"{count} run(s) of {task_name} on {self.name}:\n{self.output()[-3000:]}",
        )
        return self.task_results(task_name)


# `celery -A cxm worker`, with the tasks its tasks send (the reply sweep sends each
# reply's task) going to this test's queue too, not to the default one nobody reads.
_WORKER_SCRIPT = """
import sys
from cxm.celery import app
app.conf.task_default_queue = sys.argv[1]
app.worker_main(sys.argv[2:])
"""


@pytest.fixture
def start_worker(broker, shared_database, smtp_server, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start Celery worker processes against the shared database, the broker and the
    SMTP server; every one is stopped (killed if need be) after the test."""
    started: list[Worker] = []

    def start(name: str = "worker", *, wait: bool = True, env: dict | None = None) -> Worker:
        """`env` adds to the worker's environment or overrides it (EMAIL_TIMEOUT…)."""
        log = tmp_path / f"{name}.log"
        env = {
            **_service_env(broker, shared_database),
            "EMAIL_URL": "",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
            **(env or {}),
        }
        command = [
            sys.executable,
            "-c",
            _WORKER_SCRIPT,
            broker.queue,
            "worker",
            "-P",
            "solo",
            "-n",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "-Q",
            broker.queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        worker = Worker(name=name, process=process, log=log)
        started.append(worker)
        return worker.wait_ready() if wait else worker

    try:
        yield start
    finally:
        # The test is over and every task it waited for has finished: kill the workers
        # (a warm or even a cold shutdown takes seconds, polling the broker).
        for worker in started:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait(timeout=10)


# --- beat ---


@dataclass
class Beat:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def sent(self) -> int:
        """How many dispatch tasks this beat has sent."""
        return self.output().count("Sending due task dispatch-due-invitations")

    def wait_started(self) -> "Beat":
        deadline = time.monotonic() + WORKER_BOOT_TIMEOUT
        while "beat: Starting..." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery beat {self.name} did not start:\n{self.output()[-4000:]}")
            time.sleep(0.1)
        return self


# The real schedule entry of the outbox sweep, sent every `interval` seconds instead of
# every minute, to this test's queue.
_BEAT_SCRIPT = """
import sys
from cxm.celery import app
queue, interval, *arguments = sys.argv[1:]
entry = dict(app.conf.beat_schedule["dispatch-due-invitations"])
entry.update(schedule=float(interval), options={"queue": queue})
app.conf.beat_schedule = {"dispatch-due-invitations": entry}
app.start(["beat", *arguments])
"""


@pytest.fixture
def start_beat(broker, shared_database, tmp_path) -> Iterator[Callable[..., Beat]]:
    """Start `celery beat` processes sending the dispatch sweep to this test's queue;
    every one is killed after the test."""
    started: list[Beat] = []

    def start(name: str = "beat", *, interval: int = 1) -> Beat:
        log = tmp_path / f"{name}.log"
        command = [
            sys.executable,
            "-c",
            _BEAT_SCRIPT,
            broker.queue,
            str(interval),
            "-s",
            str(tmp_path / f"{name}-schedule"),
            "--max-interval",
            str(interval),
            "-l",
            "INFO",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=_service_env(broker, shared_database),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        beat = Beat(name=name, process=process, log=log)
        started.append(beat)
        return beat

    try:
        yield start
    finally:
        for beat in started:
            if beat.process.poll() is None:
                beat.process.kill()
            beat.process.wait(timeout=10)


# --- a private Redis, to stop and start ---


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class PrivateRedis:
    """A redis-server of this test's own (no persistence): `kill()` it as an outage
    would, `start()` it again, empty, on the same port."""

    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        wait_until(
            lambda: _answers_ping(self.port) or self.process.poll() is not None,
            timeout=SERVER_BOOT_TIMEOUT,
            what=f"redis-server on port {self.port}",
        )
        if self.process.poll() is not None:
            pytest.fail(f"redis-server did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(port=free_port(), log=tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


# --- a private PostgreSQL cluster, to stop and start ---


def _postgres_bin(name: str) -> str:
    """The server's own programs (initdb, pg_ctl) are not on PATH on Debian."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    found = shutil.which(name) or (str(candidates[-1]) if candidates else None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} was not found (apt-get install postgresql)")
    return found


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder on a free port, run as the postgres
    user when the tests run as root (the server refuses root)."""

    port: int
    folder: Path

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, *command: str, timeout: float = 60) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, *command], capture_output=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)}:\n{done.stderr.decode()[-2000:]}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self.run(
            _postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            "-t",
            str(SERVER_BOOT_TIMEOUT),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Mode "fast" ends every session and rolls back its open transaction."""
        self.run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="cxm-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
    cluster = PrivatePostgres(port=free_port(), folder=folder)
    try:
        cluster.run(
            _postgres_bin("initdb"),
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        cluster.start()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            try:
                cluster.stop("immediate")
            except (RuntimeError, subprocess.SubprocessError):
                logging.getLogger(__name__).warning("private PostgreSQL did not stop")
        shutil.rmtree(folder, ignore_errors=True)


def copy_test_database(url: str) -> None:
    """Copy this test's database (schema and rows) into the database at `url`."""
    settings_dict = connections["default"].settings_dict
    env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    dump = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "--no-privileges",
            "-h",
            settings_dict.get("HOST") or "127.0.0.1",
            "-p",
            str(settings_dict.get("PORT") or 5432),
            "-U",
            settings_dict.get("USER") or "postgres",
            settings_dict["NAME"],
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=60,
    )
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=60,
    )


# --- a web process ---


@dataclass
class WebServer:
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str, *, timeout: float = 10) -> tuple[int, bytes]:
        return http_request(self.url + path, timeout=timeout)


def http_request(
    url: str,
    *,
    data: bytes | None = None,
    headers: dict | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """(status, body) of one request; an error status is an answer too, not an exception."""
    assert url.startswith("http://127.0.0.1:"), url  # loopback only
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def start_web(tmp_path) -> Iterator[Callable[..., WebServer]]:
    """Start the app under gunicorn (one worker, threads) on a free port against the
    database at `database_url`; killed after the test."""
    started: list[WebServer] = []

    def start(database_url: str, *, env: dict | None = None) -> WebServer:
        port = free_port()
        log = tmp_path / f"web-{port}.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "cxm.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "60",
            "--no-control-socket",  # gunicorn's default socket path is shared by all
        ]
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cxm.settings.local",
            "DEBUG": "false",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "",
            "CXM_VAR_DIR": str(tmp_path / "web-var"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        server = WebServer(port=port, process=process, log=log)
        started.append(server)

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{server.output()[-4000:]}")
            try:
                return server.get("/healthz/", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(answers, timeout=SERVER_BOOT_TIMEOUT, what=f"gunicorn on port {port}")
        return server

    try:
        yield start
    finally:
        for server in started:
            if server.process.poll() is None:
                server.process.kill()
            server.process.wait(timeout=10)


# --- tests that need what a laptop may not have ---

# marker: (what the test needs, why it is not collected without it). Such a test is
# deselected, not skipped: CI has all of these, and a skip there would hide a failure.
_NEEDS = {
    "postgresql_only": (
        lambda: connections["default"].vendor == "postgresql",
        "DATABASE_URL is not PostgreSQL",
    ),
    "redis_server": (
        lambda: shutil.which("redis-server") is not None,
        "redis-server is not installed",
    ),
}
_deselected_key = pytest.StashKey[list]()


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "postgresql_only: a fault test of PostgreSQL itself; not collected on SQLite"
    )
    config.addinivalue_line(
        "markers", "redis_server: starts a private redis-server; not collected without one"
    )


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect the tests whose need is not met, and say why after collection."""
    reasons = {}
    for item in items:
        for marker, (met, reason) in _NEEDS.items():
            if item.get_closest_marker(marker) and not met():
                reasons[item.nodeid] = reason
                break
    if reasons:
        deselected = [item for item in items if item.nodeid in reasons]
        items[:] = [item for item in items if item.nodeid not in reasons]
        config.hook.pytest_deselected(items=deselected)
        config.stash[_deselected_key] = [f"not collected ({r}): {n}" for n, r in reasons.items()]


def pytest_report_collectionfinish(config, start_path, items) -> list[str]:
    return config.stash.get(_deselected_key, [])
