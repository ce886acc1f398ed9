"""Locust users for bench/load_desk.py: agents working the desk in their own sessions.

Each user is one agent's logged-in browser (the session bench/load_desk.py opened for
it): it reads queue views, opens tickets it may see and replies to open ones, three
reads of each kind for one reply, pausing --think seconds on average between clicks.
A reply counts as successful when it is answered by the redirect to its ticket page.
"""

import random
from itertools import count

import browser
import recorder
from locust import FastHttpUser, between, task

AGENTS: list[dict] = recorder.SETUP["agents"]
QUEUE_PAGES: list[list[str]] = recorder.SETUP["queue_pages"]
ORIGIN: str = recorder.SETUP["origin"]
MARKER: str = recorder.SETUP["marker"]
THINK: float = recorder.SETUP["think_seconds"]
REPLIES = (
    "Hola {name}, ya hemos revisado tu pedido y sale hoy.",
    "Hi {name}, thanks for your patience: the refund is on its way.",
    "Hola {name}, ¿puedes enviarnos una captura del error?",
)

_next_agent = count()
recorder.extra["replies"] = 0


class Agent(FastHttpUser):
    wait_time = between(THINK * 0.5, THINK * 1.5)

    def on_start(self) -> None:
        me = AGENTS[next(_next_agent) % len(AGENTS)]
        self.tickets: list[int] = me["tickets"]
        self.open_tickets: list[int] = me["open_tickets"]
        self.cookies = {"sessionid": me["session"]}
        self.form_token = ""
        self.read_queue()  # the first page of the day, and the form token

    def _read(self, path: str, name: str) -> None:
        with self.client.get(
            path,
            name=name,
            headers=browser.headers(cookies=self.cookies),
            allow_redirects=False,
            catch_response=True,
        ) as page:
            if page.status_code != 200:  # a 302 here would be to the login page
                page.failure(f"answered {page.status_code}")
                return
            self.form_token = browser.form_token(page.text or "") or self.form_token
            csrf_cookie = browser.cookie(self.client, "csrftoken")
            if csrf_cookie:
                self.cookies["csrftoken"] = csrf_cookie

    @task(3)
    def read_queue(self) -> None:
        name, path = random.choice(QUEUE_PAGES)
        self._read(path, f"GET queue: {name}")

    @task(3)
    def read_ticket(self) -> None:
        self._read(f"/desk/tickets/{random.choice(self.tickets)}/", "GET ticket page")

    @task(1)
    def reply(self) -> None:
        if not self.form_token or "csrftoken" not in self.cookies:
            self.read_queue()
            return
        ticket = random.choice(self.open_tickets)
        body = random.choice(REPLIES).format(name="cliente")
        fields = {"reply-body": f"{body}\n\n{MARKER}", "csrfmiddlewaretoken": self.form_token}
        with self.client.post(
            f"/desk/tickets/{ticket}/reply/",
            name="POST reply",
            data=browser.form_body(fields),
            headers=browser.headers(cookies=self.cookies, origin=ORIGIN, form=True),
            allow_redirects=False,
            catch_response=True,
        ) as sent:
            location = sent.headers.get("location") or ""
            if sent.status_code == 302 and f"/desk/tickets/{ticket}/" in location:
                recorder.extra["replies"] += 1
                sent.success()
            else:
                sent.failure(f"answered {sent.status_code}")
