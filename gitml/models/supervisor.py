"""The worker processes of `gitml serve --workers N`.

Workers are forked after the model is loaded and share one listening socket. One that
dies is replaced, however soon after its start: the first replacement after a worker
that had served for a while starts at once; each further death within
`STABLE_SECONDS` of a start doubles the wait before the next replacement, from
`FIRST_DELAY` up to `MAX_DELAY`, so a worker that cannot live costs a restart every few
seconds, never a busy loop, and the service is not stopped. SIGTERM or SIGINT stops all.
"""

import contextlib
import os
import signal
import time
from collections.abc import Callable

FIRST_DELAY = 0.25
MAX_DELAY = 5.0
STABLE_SECONDS = 10.0
KILL_AFTER_SECONDS = 20.0  # uvicorn gives connections 10 s to close on a stop; then it is SIGKILL


def restart_delay(quick_deaths: int) -> float:
    """Seconds to wait before a replacement, after `quick_deaths` deaths in a row."""
    return 0.0 if quick_deaths == 0 else min(MAX_DELAY, FIRST_DELAY * 2 ** (quick_deaths - 1))


def supervise(
    run_worker: Callable[[], int],
    workers: int,
    report: Callable[[str], None],
    kill_after: float = KILL_AFTER_SECONDS,
) -> int:
    """Fork `workers` processes running `run_worker`; replace those that die; 0 once stopped."""
    children: dict[int, float] = {}  # pid -> start time
    due: list[float] = []  # start times of the replacements to come
    quick_deaths = 0
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = run_worker()
            finally:
                os._exit(code)
        children[pid] = time.monotonic()
        if stopping:  # the signal came while this one was being forked
            os.kill(pid, signal.SIGTERM)

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        # a worker stuck in its shutdown must not keep the service up: an alarm (which
        # also ends the wait below) kills what is left
        signal.signal(signal.SIGALRM, kill_stragglers)
        signal.setitimer(signal.ITIMER_REAL, kill_after)

    def kill_stragglers(signum, frame) -> None:
        report(f"{len(children)} worker(s) still running {kill_after:g} s after the stop: killed")
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        spawn()
    while children or (due and not stopping):
        while due and not stopping and due[0] <= time.monotonic():
            due.pop(0)
            spawn()
        waiting = bool(due) and not stopping  # for a replacement's time: do not block
        pid, status = _poll(bool(children)) if waiting else _wait()
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        lived = time.monotonic() - started
        quick_deaths = quick_deaths + 1 if lived < STABLE_SECONDS else 0
        delay = restart_delay(quick_deaths)
        later = f" in {delay:g} s" if delay else ""
        report(f"worker {pid} died (status {status}); starting another{later}")
        due.append(time.monotonic() + delay)
    signal.setitimer(signal.ITIMER_REAL, 0)
    return 0


def _wait() -> tuple[int, int]:
    """(pid, wait status) of the next child to end; (0, 0) when there is none."""
    try:
        return os.wait()
    except ChildProcessError:
        return 0, 0


def _poll(has_children: bool) -> tuple[int, int]:
    """(pid, wait status) of a child that has ended, else (0, 0) after a short sleep."""
    if has_children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            return pid, status
    time.sleep(0.05)
    return 0, 0
