"""Starting the bureau's processes locally: the store, the SMTP sink and the four services.

Used by `python -m devtools.run_local`, the end-to-end tests and the benchmarks, so that all
three start the bureau the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("intake", "triage", "escalation", "notify")
# The front doors: clients of the services' HTTP APIs (`frontends/<name>/`).
FRONTENDS = ("web", "email", "phone")
DEFAULT_PORTS = {"intake": 8001, "triage": 8002, "escalation": 8003, "notify": 8004,
                 "web": 8000, "email": 8005, "phone": 8006}


def module_of(name: str) -> str:
    """The Python module that runs a service or a frontend (`python -m <module>`)."""
    return f"frontends.{name}" if name in FRONTENDS else f"services.{name}"


def available_frontends() -> tuple[str, ...]:
    """The frontends present in this checkout (each a package with a `__main__`)."""
    return tuple(name for name in FRONTENDS
                 if (REPO_ROOT / "frontends" / name / "__main__.py").exists())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0,
                  process: subprocess.Popen[bytes] | None = None, what: str = "server") -> None:
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


def start_secantus(*, port: int, storage_path: str, log_path: str) -> subprocess.Popen[bytes]:
    """A SecantusDB server (MongoDB protocol) for development and tests."""
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [_executable("secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", storage_path, "--log-level", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    wait_for_port(port, timeout_s=60, process=process, what="SecantusDB")
    return process


@contextmanager
def store_url(prefix: str = "bureau-store-") -> Iterator[str]:
    """`MONGO_URL` when set (a real MongoDB), else a throwaway SecantusDB over TCP."""
    if os.environ.get("MONGO_URL"):
        yield os.environ["MONGO_URL"]
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as storage:
        port = free_port()
        process = start_secantus(port=port, storage_path=storage,
                                 log_path=os.path.join(storage, "secantus.log"))
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
        env = {**os.environ, **self.env, "PORT": str(self.port),
               "PYTHONPATH": str(REPO_ROOT)}
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", module_of(self.name)], cwd=REPO_ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Poll `/readyz` until store and broker are reachable from the service."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.process.returncode}; "
                                   f"see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except Exception as exc:
                last = str(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready within {timeout_s}s ({last}); "
                           f"see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        if self.process is not None:
            kill_process(self.process)
