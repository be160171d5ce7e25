"""The sandbox a submission runs in: bubblewrap (Linux namespaces), resource limits, clean-up.

Each submission gets its own sandbox, built by :func:`command`:

* its own mount namespace in which the system folders (``/usr``, ``/etc``) and the Python
  environment (the interpreter's prefix, site-packages and the ``mixnb`` package) are
  mounted read-only, and nothing else of the host: not the template, not the other
  submissions, not the reports, not the home folder;
* one writable folder, ``/submission``, holding only its own notebook (with the tests taken
  out), where it writes the values the tests will see; a private ``/tmp`` (memory-backed,
  size-limited) that is also its home;
* its own PID namespace with a private ``/proc`` (it cannot see or signal the grader, nor
  read any other process's command line), no network (its own network namespace, loopback
  only), its own IPC and hostname namespaces, a new session (no terminal to type into);
* no privileges: under root, the student's code runs as an unprivileged user id of its own
  (one per parallel worker), with no capabilities and ``no_new_privs``; otherwise in a user
  namespace;
* resource limits (``prlimit``): address space, CPU seconds, processes, file size, open files;
* ``--die-with-parent``: if the grader dies, so does the sandbox; when the sandbox's first
  process ends, the kernel kills every process left in its PID namespace (a detached child
  included), and the grader kills the sandbox's process group as well.

bubblewrap's own arguments travel through a pipe (``--args``), so not even the paths the
sandbox is built from show on any command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

#: where the submission's folder appears inside the sandbox
INSIDE = "/submission"
#: the first of the user ids the sandboxed code runs as when the grader is root
FIRST_UID = 61000
#: environment of the sandboxed processes (the grader's own is never passed on)
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime",
    "JUPYTER_PLATFORM_DIRS": "1",
    "IPYTHONDIR": "/tmp/ipython",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission (each process in its sandbox)."""

    #: address space of each process, bytes
    memory: int = 2 * 2**30
    #: CPU seconds of each process
    cpu_seconds: int = 600
    #: processes and threads of the sandbox's user
    processes: int = 256
    #: size of any file it writes, bytes
    file_size: int = 64 * 2**20
    #: open files of each process
    open_files: int = 1024
    #: size of its private /tmp, bytes
    tmp_size: int = 256 * 2**20

    def prlimit(self, processes: int | None = None) -> list[str]:
        """The ``prlimit`` command line that applies these limits to what it runs."""
        nproc = self.processes if processes is None else processes
        return [
            _tool("prlimit"),
            f"--as={self.memory}",
            f"--cpu={self.cpu_seconds}",
            f"--nproc={nproc}",
            f"--fsize={self.file_size}",
            f"--nofile={self.open_files}",
            "--core=0",
            "--",
        ]


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here (the message says why)."""


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        raise SandboxUnavailable(f"the {name} command is not installed")
    return found


def python_paths() -> list[Path]:
    """Folders the sandboxed Python needs, read-only: prefixes, site-packages, mixnb itself."""
    import mixnb

    found = [Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix)]
    found += [Path(sysconfig.get_path(k)) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    package = Path(mixnb.__file__).parent  # an editable install lives outside site-packages
    found.append(package)
    # a folder the package links to (mixnb/data -> ../data in a source checkout)
    found += [p.resolve() for p in package.iterdir() if p.is_symlink() and p.is_dir()]
    found.append(Path(sys.executable).parent)
    paths: list[Path] = []
    for path in found:
        for p in (path, path.resolve()):
            if p.is_dir() and p not in paths:
                paths.append(p)
    # a folder inside another one is mounted with it
    return [p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)]


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def exposed(path: Path) -> Path | None:
    """The read-only folder of the sandbox that contains ``path``, if any."""
    path = path.resolve()
    roots = [Path(p) for p in ("/usr", "/etc")] + python_paths()
    return next((r for r in roots if path.is_relative_to(r.resolve())), None)


def command(
    folder: Path, argv: list[str], limits: Limits, slot: int = 0
) -> tuple[list[str], bytes]:
    """The command that runs ``argv`` sandboxed in ``folder``, and bwrap's arguments for it.

    ``folder`` appears as :data:`INSIDE`; ``argv`` is run from there. The options are
    NUL-separated, for ``bwrap --args FD`` (``{fd}`` in the command stands for FD).
    """
    bwrap = _tool("bwrap")
    args = _system_binds()
    parents: list[Path] = []
    for path in python_paths():
        if not any(path.is_relative_to(p) for p in ("/usr", "/etc")):
            args += ["--ro-bind", str(path), str(path)]
            parents += [p for p in path.parents if p != Path("/") and p not in parents]
    for parent in sorted(parents):  # bwrap copies the host's modes (/root is 0700)
        args += ["--chmod", "0755", str(parent)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(limits.tmp_size), "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--bind", str(folder), INSIDE, "--chdir", INSIDE]
    args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", "sandbox"]
    args += ["--die-with-parent", "--new-session", "--clearenv"]
    for key, value in _ENV.items():
        args += ["--setenv", key, value]
    if os.geteuid() == 0:
        # root outside: drop to an unprivileged user id of this worker's own, so the process
        # limit counts only this sandbox and the code has no capabilities at all
        uid = str(FIRST_UID + slot)
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        args += ["--cap-add", "CAP_SETPCAP"]
        drop = [_tool("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        drop += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        argv = drop + argv
        nproc = limits.processes
        os.chown(folder, int(uid), int(uid))
        os.chmod(folder, 0o755)
    else:
        args += ["--unshare-user", "--cap-drop", "ALL"]
        # the process limit counts every process of the real user: allow this many more
        nproc = _processes_of(os.getuid()) + limits.processes
    encoded = b"".join(a.encode() + b"\0" for a in args)
    return [*limits.prlimit(nproc), bwrap, "--args", "{fd}", "--", *argv], encoded


def _processes_of(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid and len(list((entry / "task").iterdir()))
            except OSError:
                continue
    return count


def start(
    folder: Path,
    argv: list[str],
    limits: Limits,
    slot: int = 0,
    sandbox: bool = True,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.DEVNULL,
) -> subprocess.Popen:
    """Start ``argv`` in ``folder``: in the sandbox, or (``sandbox=False``) only with limits.

    Either way it starts a new session, so :func:`stop` can kill all it started.
    """
    if not sandbox:
        return subprocess.Popen(
            [*limits.prlimit(), *argv],
            cwd=folder,
            env={**_ENV, "HOME": str(folder), "TMPDIR": str(folder)},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    cmd, encoded = command(folder, argv, limits, slot)
    read, write = os.pipe()
    try:
        process = subprocess.Popen(
            [str(read) if a == "{fd}" else a for a in cmd],
            pass_fds=(read,),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    finally:
        os.close(read)
    with os.fdopen(write, "wb") as pipe:
        try:
            pipe.write(encoded)
        except BrokenPipeError:  # bwrap failed at once; its exit status says why
            pass
    return process


def stop(process: subprocess.Popen) -> None:
    """Kill the process group (the session) ``process`` leads, and reap it."""
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
        pass


def problem(limits: Limits | None = None) -> str | None:
    """Why the sandbox cannot run here, or None when it can (a real trial run of Python)."""
    import tempfile

    limits = limits or Limits()
    try:
        with tempfile.TemporaryDirectory(prefix="mixnb-sandbox-check-") as folder:
            os.chmod(folder, 0o755)
            process = start(
                Path(folder),
                [sys.executable, "-I", str(Path(__file__).with_name("values.py"))],
                limits,
                stderr=subprocess.PIPE,
            )
            _, err = process.communicate(timeout=60)
            stop(process)
    except SandboxUnavailable as exc:
        return f"{exc} (on Debian or Ubuntu: apt-get install bubblewrap)"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the sandbox could not be started: {exc}"
    if process.returncode != 0:
        message = (err or b"").decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit status {process.returncode}"
        return (
            f"bubblewrap could not build the sandbox: {detail} (user namespaces may be "
            "disabled: sysctl kernel.unprivileged_userns_clone=1, or in Docker run with "
            "--security-opt seccomp=unconfined --cap-add SYS_ADMIN)"
        )
    return None
