"""Starting the bureau's processes locally: the store, the SMTP sink and the four services.

Used by `python -m devtools.run_local`, the end-to-end tests and the benchmarks, so that all
three start the bureau the same way.

A port already taken is refused before anything starts there, naming the process that holds
it; a child started from the main thread dies with the launcher (Linux `PR_SET_PDEATHSIG`),
even when the launcher itself is killed or its terminal closed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "triage", "escalation", "notify")
# The front doors: clients of the services' HTTP APIs (`frontends/<name>/`).
FRONTENDS = ("web", "email", "phone")
DEFAULT_PORTS = {
    "intake": 8001,
    "triage": 8002,
    "escalation": 8003,
    "notify": 8004,
    "web": 8000,
    "email": 8005,
    "phone": 8006,
}


def module_of(name: str) -> str:
    """The Python module that runs a service or a frontend (`python -m <module>`)."""
    return f"frontends.{name}" if name in FRONTENDS else f"services.{name}"


def available_frontends() -> tuple[str, ...]:
    """The frontends present in this checkout (each a package with a `__main__`)."""
    return tuple(
        name for name in FRONTENDS if (REPO_ROOT / "frontends" / name / "__main__.py").exists()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortTaken(RuntimeError):
    """A port the bureau needs is held by another process (`pid`, where /proc tells)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def port_holder_pid(port: int) -> int | None:
    """The process listening on TCP `port`, where /proc tells."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{inode}]")
        except OSError:
            continue
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in descriptors):
                return int(pid)
        except OSError:
            continue
    return None


def command_line(pid: int) -> str | None:
    """The command line of a process, or None when it is gone or hidden."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def port_holder(port: int) -> str | None:
    """`pid N (command line)` of the process listening on TCP `port`, where /proc tells."""
    pid = port_holder_pid(port)
    command = command_line(pid) if pid is not None else None
    return None if pid is None or command is None else f"pid {pid} ({command[:200]})"


def ensure_port_free(port: int, what: str) -> None:
    """Refuse to start `what` on a port another process listens on, naming that process."""
    with socket.socket() as probe:
        # as uvicorn binds: a port left in TIME_WAIT by a stopped process is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return
        except OSError:
            pass
    pid = port_holder_pid(port)
    command = command_line(pid) if pid is not None else None
    holder = f"pid {pid} ({command[:200]})" if command is not None else None
    advice = f"stop it (kill {pid})" if holder else "stop it"
    raise PortTaken(
        f"port {port} for {what} is already in use by "
        f"{holder or 'another process'}; {advice} or free the port, then retry",
        pid=pid if holder else None,
    )


# Run in the child before the real program: ask the kernel for SIGTERM when the launcher
# dies, then become the program (the request survives exec).
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"  # PR_SET_PDEATHSIG
    "if os.getppid() != int(sys.argv[1]):\n"  # the launcher died before that
    "    os._exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def dying_with_launcher(command: list[str]) -> list[str]:
    """`command`, made to end when this process ends (Linux; started from the main thread,
    since the kernel ties the request to the thread that started the child)."""
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return command
    return [sys.executable, "-S", "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]


def wait_for_port(
    port: int,
    timeout_s: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    what: str = "server",
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout_s}s")


def _executable(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def mongodb_cache_size() -> str:
    """The WiredTiger cache MongoDB gives itself on this machine (half of the memory less
    1 GB, at least 256 MB), for the stand-in, whose own default is 1 GB: a district's history
    past that is evicted and read back on every operation (bench.history: every collection's
    operations 3-4x slower at 100,000 stored concerns, the tiny ones included). Memory is
    taken as the cache fills, not at start."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "1G"
    megabytes = max(256, int((memory - 2**30) * 0.5) // 2**20)
    return f"{megabytes}M"


def start_secantus(*, port: int, storage_path: str, log_path: str) -> subprocess.Popen[bytes]:
    """A SecantusDB server (MongoDB protocol) for development and tests, its cache sized as
    MongoDB sizes its own (`mongodb_cache_size`)."""
    ensure_port_free(port, "the store (SecantusDB)")
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            dying_with_launcher(
                [
                    _executable("secantusd-py"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--storage-path",
                    storage_path,
                    "--log-level",
                    "WARNING",
                    "--cache-size",
                    mongodb_cache_size(),
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # the reason of a failed start is only in its log: name it
    wait_for_port(port, timeout_s=60, process=process, what=f"SecantusDB (log {log_path})")
    return process


@contextmanager
def store_url(prefix: str = "bureau-store-") -> Iterator[str]:
    """`MONGO_URL` when set (a real MongoDB), else a throwaway SecantusDB over TCP."""
    if os.environ.get("MONGO_URL"):
        yield os.environ["MONGO_URL"]
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as storage:
        port = free_port()
        process = start_secantus(
            port=port, storage_path=storage, log_path=os.path.join(storage, "secantus.log")
        )
        try:
            yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def kill_process(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: the process gets no chance to clean up (fault tests)."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {**os.environ, **self.env, "PORT": str(self.port), "PYTHONPATH": str(REPO_ROOT)}
        ensure_port_free(self.port, self.name)
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                dying_with_launcher([sys.executable, "-m", module_of(self.name)]),
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll `/readyz` until store and broker are reachable from the service; ready only
        while this process still runs (never another's answer on its port)."""
        import urllib.request

        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200 and self.running:
                        return
            except Exception as exc:
                last = str(exc)
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.name} not ready within {timeout_s}s ({last}); see {self.log_path}"
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        if self.process is not None:
            kill_process(self.process)
