"""The survey loop with its real moving parts: a Celery worker process, a broker and an
SMTP server.

The broker is Redis when CELERY_BROKER_URL is a redis:// URL (CI) and otherwise kombu's
filesystem transport in a folder of the test's own (a laptop with no services): either
way a real `celery -A cxm worker` process takes the tasks. The SMTP server is aiosmtpd,
started here, counting what it receives. The worker and the test share the database:
the test database itself on PostgreSQL, a migrated SQLite file on SQLite (the default
in-memory test database cannot be opened from another process).
"""

import email
import email.policy
import logging
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
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
    """Counts and keeps every message; `delay` slows each one down like a real relay."""

    port: int
    delay: float = 0.0
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
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
        controller.stop()


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


@pytest.fixture
def broker(settings, tmp_path) -> Iterator[Broker]:
    queue = f"cxm-integration-{uuid.uuid4().hex[:12]}"
    var_dir = tmp_path / "var"
    if USES_REDIS:
        url, options, worker_env = BROKER_URL, {"visibility_timeout": 2 * 60 * 60}, {}
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
        if USES_REDIS:
            with celery_app.connection_for_write(url) as connection:
                connection.default_channel.queue_delete(queue)
        celery_app.conf.update(saved)
        _forget_connections()


# --- the workers ---


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

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


@pytest.fixture
def start_worker(broker, shared_database, smtp_server, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start `celery -A cxm worker` processes against the shared database, the broker
    and the SMTP server; every one is stopped (killed if need be) after the test."""
    started: list[Worker] = []

    def start(name: str = "worker", *, wait: bool = True) -> Worker:
        log = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cxm.settings.local",
            "DEBUG": "false",
            "DATABASE_URL": shared_database,
            "CELERY_BROKER_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "EMAIL_URL": "",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
            "CXM_BASE_URL": "http://testserver",
            "PYTHONUNBUFFERED": "1",
            **broker.worker_env,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cxm",
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
