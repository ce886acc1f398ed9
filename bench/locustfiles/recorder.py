"""Inside the locust process: keep every request's time (for exact percentiles), print a
progress line every few seconds, and hand everything to the bench script at the end
(the JSON file named by CXM_BENCH_RESULT). Locustfiles import it and put what they
counted themselves into `extra`."""

import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import gevent
from locust import events

SETUP = json.loads(Path(os.environ["CXM_BENCH_SETUP"]).read_text())
PROGRESS_EVERY = 5.0

times_ms: dict[str, list[float]] = defaultdict(list)
failures: Counter = Counter()
# Requests that ended within --run-time, by name: the rates count these, not the ones
# the users finish after it (locust lets each end the request it is in).
in_window: Counter = Counter()
succeeded_in_window: Counter = Counter()
error_kinds: Counter = Counter()
extra: dict = {}
_clock = {"first_start": None, "last_end": None, "started": None, "window": 0.0}


@events.request.add_listener
def _on_request(request_type, name, response_time, exception=None, **kwargs) -> None:
    now = time.monotonic()
    started = now - response_time / 1000
    if _clock["first_start"] is None or started < _clock["first_start"]:
        _clock["first_start"] = started
    _clock["last_end"] = now
    times_ms[name].append(response_time)
    if now <= _clock["started"] + _clock["window"]:
        in_window[name] += 1
        if exception is None:
            succeeded_in_window[name] += 1
    if exception is not None:
        failures[name] += 1
        error_kinds[f"{name}: {str(exception)[:120]}"] += 1


def _progress() -> None:
    while True:
        gevent.sleep(PROGRESS_EVERY)
        elapsed = time.monotonic() - _clock["started"]
        done = sum(len(values) for values in times_ms.values())
        print(
            f"   {elapsed:5.0f} s  {done:>7,} requests  ({done / elapsed:,.0f}/s)  "
            f"{sum(failures.values()):,} errors",
            flush=True,
        )


@events.test_start.add_listener
def _on_start(environment, **kwargs) -> None:
    _clock["started"] = time.monotonic()
    _clock["window"] = float(SETUP["run_seconds"])
    gevent.spawn(_progress)


@events.quitting.add_listener
def _on_quit(environment, **kwargs) -> None:
    first, last = _clock["first_start"], _clock["last_end"]
    result = {
        "seconds": (last - first) if first is not None else 0.0,
        "window_s": _clock["window"],
        "in_window": dict(in_window),
        "succeeded_in_window": dict(succeeded_in_window),
        "times_ms": times_ms,
        "failures": dict(failures),
        "error_kinds": dict(error_kinds.most_common(10)),
        "extra": extra,
    }
    Path(os.environ["CXM_BENCH_RESULT"]).write_text(json.dumps(result))
