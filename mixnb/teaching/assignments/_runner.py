"""Run a submission's cells inside its sandbox: ``python -I .../_runner.py``.

This process is the student's side: it runs their cells in an IPython shell (the same
machinery as a Jupyter kernel, without the messaging: a kernel's start-up is most of the cost
of grading a class), so everything it writes is untrusted and the grader reads it as data
only. Its folder holds ``job.json`` (the code cells to run: the student's, the template's
locked cells and, in place of each test, a cell that exports the values the test needs, with
the time limits) and receives ``outcomes.jsonl``: a ``started`` line before each cell and
its outcome after it, written at once, so a cell that ends the process (``os._exit``, a
crash, a kill) is known by its missing outcome, and a last line with the CPU seconds it
used. The exports go to ``exports/``.

It imports only the standard library and IPython, so that it starts quickly.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

#: seconds an interrupted cell gets to stop before the run is abandoned
PROBE_SECONDS = 5


class CellTimeout(KeyboardInterrupt):
    """Raised in a cell at its time limit (a KeyboardInterrupt, as a kernel's interrupt)."""


def main() -> int:
    with open("job.json", encoding="utf-8") as handle:
        job = json.load(handle)
    os.makedirs("exports", exist_ok=True)
    for name in ("IPYTHONDIR", "MPLCONFIGDIR"):
        if os.environ.get(name):
            os.makedirs(os.environ[name], exist_ok=True)
    out = open("outcomes.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - open for the run
    lock = threading.Lock()

    def write(index: int, status: str, detail: str = "") -> None:
        with lock:
            out.write(json.dumps({"index": index, "status": status, "detail": detail}) + "\n")
            out.flush()

    cells = job["cells"]

    def stop(at: int, reason: str) -> None:
        for cell in cells[at:]:
            write(cell["index"], "not run", reason)

    try:
        shell = _shell()
    except Exception as exc:
        stop(0, f"the grader could not start Python: {type(exc).__name__}: {exc}")
        return 0
    running: dict[str, float] = {}

    def expire(signum, frame):
        raise CellTimeout

    signal.signal(signal.SIGALRM, expire)
    watchdog = threading.Thread(target=_watch, args=(running, write, stop, cells), daemon=True)
    watchdog.start()
    deadline = time.monotonic() + job["total_timeout"]
    for position, cell in enumerate(cells):
        left = deadline - time.monotonic()
        if left < 1:
            stop(
                position,
                f"the time limit for the whole notebook ({job['total_timeout']} s) ran out",
            )
            break
        seconds = int(min(job["timeout"], left))
        write(cell["index"], "started")
        running.update(
            position=position,
            index=cell["index"],
            seconds=seconds,
            until=time.monotonic() + seconds,
        )
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            result = shell.run_cell(cell["source"], store_history=True)
        except CellTimeout:  # raised outside the cell's own code
            result = None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            running.clear()
        write(cell["index"], *outcome(result, seconds))
    write(-1, "cpu", f"{_cpu_seconds():.3f}")  # for benchmarks/grading.py; not graded
    out.close()
    return 0


def _cpu_seconds() -> float:
    import resource

    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _shell():
    """An IPython shell like a kernel's, without history on disk."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    return InteractiveShell.instance(config=config)


def outcome(result, seconds: int) -> tuple[str, str]:
    """(status, detail) of a cell from IPython's ExecutionResult."""
    if result is None:
        return "timeout", f"did not finish within {seconds} s"
    error = result.error_before_exec or result.error_in_exec
    if error is None:
        return "ok", ""
    if isinstance(error, CellTimeout):
        return "timeout", f"did not finish within {seconds} s"
    name, text = type(error).__name__, str(error)
    return "error", f"{name}: {text}" if text else name


def _watch(running: dict, write, stop, cells) -> None:
    """End the run when a cell ignores its interrupt (a loop that catches it, a C call)."""
    while True:
        time.sleep(0.2)
        until = running.get("until")
        if until is not None and time.monotonic() > until + PROBE_SECONDS:
            position = running.get("position", 0)
            write(running["index"], "timeout", f"did not finish within {running['seconds']} s")
            stop(
                position + 1,
                "the kernel stayed busy after an earlier cell was interrupted "
                "(a loop that ignores interrupts?)",
            )
            os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
