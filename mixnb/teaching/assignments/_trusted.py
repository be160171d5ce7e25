"""The trusted interpreter that runs the tests: ``python -I .../_trusted.py``.

It never runs a student's code: it runs the template's locked cells (the setup: imports,
data) once, then serves one request per submission, each in a forked child so that nothing
one submission's values do to the namespace reaches the next. A request names the folder of
the values the submission exported (read with :func:`mixnb.teaching.assignments.values.load`, plain
data only) and the tests to run, hidden ones included; the child writes one result per test
to the file the request names. The grader talks to it over its stdin and stdout (one JSON
line each way), so nothing secret is ever on a command line.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import numbers
import os
import resource
import signal
import sys
import time
from pathlib import Path


def _values():
    """mixnb.teaching.assignments.values, loaded from its file (importing mixnb costs a second)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_mixnb_values", Path(__file__).parent / "values.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


values = _values()


class _TestTimeout(BaseException):
    """Raised in a test that runs past its time limit (not an Exception: tests cannot catch it)."""


def run_source(source: str, namespace: dict, label: str) -> object:
    """Execute a cell's source like a notebook would; the value of a last expression, if any."""
    tree = ast.parse(source, filename=label)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, label, "exec"), namespace)
    return eval(compile(last, label, "eval"), namespace) if last is not None else None


def run_test(test: dict, base: dict, exports: Path, timeout: int) -> dict:
    """Run one test on the values its question exported; its outcome as plain data."""
    path = exports / f"{test['grade_id']}.json"
    result = {"grade_id": test["grade_id"], "problems": {}}
    namespace = dict(base)
    if path.exists():
        try:
            found, problems = values.load(path)
        except (OSError, ValueError) as exc:
            return {**result, "status": "error", "detail": f"the exported values: {exc}"}
        # only the names the question declares: a student's file may hold more (say, a
        # constant of the setup that the test compares with)
        declared = set(test["exports"])
        namespace.update({k: v for k, v in found.items() if k in declared})
        result["problems"] = {k: v for k, v in problems.items() if k in declared}
    else:
        result["missing"] = True
    stderr = io.StringIO()

    def expire(signum, frame):
        raise _TestTimeout

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, int(timeout)))
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            value = run_source(test["source"], namespace, f"<test {test['grade_id']}>")
    except _TestTimeout:
        return {**result, "status": "timeout", "detail": f"did not finish within {timeout} s"}
    except Exception as exc:
        name = type(exc).__name__
        text = f"{name}: {exc}" if str(exc) else name
        return {**result, "status": "error", "detail": text, "ename": name, "name": _missing(exc)}
    finally:
        signal.alarm(0)
    result.update(status="ok", detail="", stderr=stderr.getvalue())
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        result["value"] = float(value)
        result["value_text"] = repr(value)
    return result


def _missing(exc: Exception) -> str | None:
    """The undefined name of a NameError (the name a test needed and was not given)."""
    return getattr(exc, "name", None) if isinstance(exc, NameError) else None


def serve(job: dict, base: dict, setup_errors: list[str], request: dict) -> None:
    """In a forked child: run the request's tests and write their results."""
    memory = request.get("memory")
    if memory:  # on top of what this process (mixnb imported, the setup run) already maps
        limit = _mapped() + memory
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    exports = Path(request["exports"])
    results = [run_test(t, base, exports, request["timeout"]) for t in request["tests"]]
    text = json.dumps({"results": results, "setup_errors": setup_errors})
    target = Path(request["result"])
    part = target.with_suffix(".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, target)


def _mapped() -> int:
    """This process's address space in bytes (VmSize)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # what the template's code prints never reaches the protocol
    job = json.loads(sys.stdin.readline())
    base: dict = {"__name__": "__main__"}
    setup_errors = []
    for index, source in enumerate(job["setup"]):
        try:
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                run_source(source, base, f"<setup {index + 1}>")
        except Exception as exc:
            setup_errors.append(f"{type(exc).__name__}: {exc}")
    protocol.write(json.dumps({"ready": True}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                serve(job, base, setup_errors, request)
            except BaseException:
                code = 1
            os._exit(code)
        deadline = time.monotonic() + request["deadline"]
        status = None
        while status is None and time.monotonic() < deadline:
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid == 0:
                status = None
                time.sleep(0.01)
        if status is None:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            reply = {"status": "timeout"}
        else:
            reply = {"status": "ok" if status == 0 else f"exit {os.waitstatus_to_exitcode(status)}"}
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
