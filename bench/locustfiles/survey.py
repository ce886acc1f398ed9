"""Locust users for bench/load_survey.py: customers answering the NPS survey.

Each user takes the next invitation from one shared pool (so each is answered once;
if the run outlasts the pool it starts over, and those are revisions), and answers it
the way the email's one-click flow does: GET /s/<token>/?score=N (the page, with the
score chosen and the form's CSRF token), then POST the form. With flow "post", a user
opens a page only once, for its CSRF cookie and token, and then only POSTs: the
submission alone, measured apart from the page. A submission counts as successful
when it is answered by the redirect to the thank-you page.
"""

import random
from itertools import count

import browser
import recorder
from locust import FastHttpUser, constant, task

TOKENS: list[str] = recorder.SETUP["tokens"]
NPS_FIELD = f"q{recorder.SETUP['nps_question']}"
TEXT_FIELD = f"q{recorder.SETUP['text_question']}"
ORIGIN: str = recorder.SETUP["origin"]
OPEN_EACH_PAGE = recorder.SETUP["flow"] == "page"
COMMENTS = ("Muy rápidos, gracias", "Tardaron en contestar", "Great support", "Could be faster")

PAGE, SUBMIT = "GET /s/<token>/", "POST /s/<token>/"
_next_invitation = count()
# token → the score of its latest successful submission
recorder.extra["answered"] = answered = {}
recorder.extra["submissions"] = 0


def chosen_score() -> int:
    """Roughly a real NPS mix: a fifth are detractors, whose answer opens a follow-up."""
    roll = random.random()
    if roll < 0.55:
        return random.choice((9, 10))
    if roll < 0.80:
        return random.choice((7, 8))
    return random.randint(0, 6)


class Customer(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.cookies: dict[str, str] = {}
        self.form_token = ""

    def _open_page(self, token: str, score: int) -> bool:
        with self.client.get(
            f"/s/{token}/?score={score}",
            name=PAGE,
            headers=browser.headers(cookies=self.cookies),
            catch_response=True,
        ) as page:
            self.form_token = browser.form_token(page.text or "")
            csrf_cookie = browser.cookie(self.client, "csrftoken")
            if csrf_cookie:
                self.cookies["csrftoken"] = csrf_cookie
            if page.status_code != 200 or not self.form_token or not self.cookies:
                page.failure(f"page answered {page.status_code} without its form")
                return False
        return True

    @task
    def answer(self) -> None:
        token = TOKENS[next(_next_invitation) % len(TOKENS)]
        score = chosen_score()
        if (OPEN_EACH_PAGE or not self.form_token) and not self._open_page(token, score):
            return
        fields = {NPS_FIELD: str(score), "csrfmiddlewaretoken": self.form_token}
        if random.random() < 0.3:
            fields[TEXT_FIELD] = random.choice(COMMENTS)
        with self.client.post(
            f"/s/{token}/",
            name=SUBMIT,
            data=browser.form_body(fields),
            headers=browser.headers(cookies=self.cookies, origin=ORIGIN, form=True),
            allow_redirects=False,
            catch_response=True,
        ) as sent:
            if sent.status_code == 302 and "/thanks/" in (sent.headers.get("location") or ""):
                answered[token] = score
                recorder.extra["submissions"] += 1
                sent.success()
            else:
                sent.failure(f"answered {sent.status_code}")
