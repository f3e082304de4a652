"""`./dev run` (devtools.run_local) as a newcomer meets it: closing the terminal or killing
the launcher stops everything it started, a port already taken is a clear error naming the
process that holds it (or the other `./dev run` holding them, once), and "running" is printed
only when it is true.

Each bureau here runs beside any other on the machine: its ports moved by an offset, its
files in a temporary folder, its queues and exchanges under a prefix of its own.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.broker import delete_prefixed_topology
from devtools.launcher import (
    DEFAULT_PORTS,
    REPO_ROOT,
    PortTaken,
    available_frontends,
    command_line,
    dying_with_launcher,
    ensure_port_free,
    free_port,
    parent_pid,
    start_secantus,
)
from tests.conftest import AMQP_URL, Isolation

pytestmark = pytest.mark.e2e

RUNNING = "the bureau is running"


def port_is_free(port: int) -> bool:
    try:
        ensure_port_free(port, "test")
    except PortTaken:
        return False
    return True


def bureau_ports(offset: int) -> list[int]:
    names = ("intake", "triage", "escalation", "notify", *available_frontends())
    return [27017 + offset, 1025 + offset, *(DEFAULT_PORTS[n] + offset for n in names)]


def wait_until(check: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {timeout_s}s"
        time.sleep(0.1)


def gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def run_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`./dev run` that is expected to refuse at once (its output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "devtools.run_local"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Launcher:
    """`python -m devtools.run_local` in a session of its own, as a terminal runs it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run_local"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip())

    def wait_for(self, text: str, timeout_s: float = 150.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen}"
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                continue

    def output(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "\n".join(self.seen)


@pytest.fixture
def offset() -> int:
    """A port offset under which every port of the bureau is free."""
    for _ in range(50):
        candidate = random.randrange(30000, 38000)
        if all(port_is_free(p) for p in bureau_ports(candidate)):
            return candidate
    raise AssertionError("no free set of ports")


@pytest.fixture
def env(offset: int, tmp_path: Path) -> Iterator[dict[str, str]]:
    isolation = Isolation(uuid.uuid4().hex[:10])
    base = {k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "SMTP_HOST")}
    yield {
        **base,
        "LOCAL_PORT_OFFSET": str(offset),
        "LOCAL_VAR_DIR": str(tmp_path / "var"),
        "AMQP_URL": AMQP_URL,
        "QUEUE_PREFIX": isolation.queue_prefix,
        "EVENTS_EXCHANGE": isolation.events_exchange,
        "PRIVATE_EXCHANGE": isolation.private_exchange,
    }
    asyncio.run(
        delete_prefixed_topology(
            AMQP_URL,
            isolation.queue_prefix,
            (isolation.events_exchange, isolation.private_exchange),
        )
    )


def test_a_port_already_taken_is_a_clear_error_naming_its_process(
    env: dict[str, str], offset: int
) -> None:
    port = DEFAULT_PORTS["intake"] + offset
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
            "print('listening', flush=True); time.sleep(120)",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "listening"
        run = run_once(env)
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 1
    assert f"port {port} for intake is already in use by pid {holder.pid}" in run.stderr
    assert f"kill {holder.pid}" in run.stderr
    assert f"LOCAL_PORT_OFFSET={offset + 100} ./dev run" in run.stderr  # or beside it
    assert RUNNING not in run.stdout
    others = [p for p in bureau_ports(offset) if p != port]
    assert all(port_is_free(p) for p in others), "nothing was started"


def test_a_child_dies_with_its_launcher_even_when_the_launcher_is_killed() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from devtools.launcher import dying_with_launcher\n"
            "child = subprocess.Popen(dying_with_launcher("
            "[sys.executable, '-c', 'import time; time.sleep(120)']))\n"
            "print(child.pid, flush=True); time.sleep(120)",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert not gone(child)
    parent.kill()
    parent.wait()
    wait_until(lambda: gone(child), "the child ends with its launcher")


def test_a_command_outside_the_main_thread_is_left_as_it_is() -> None:
    # the kernel ties the request to the starting thread: a worker thread that ends would
    # take a restarted service with it
    seen: list[list[str]] = []
    worker = threading.Thread(target=lambda: seen.append(dying_with_launcher(["true"])))
    worker.start()
    worker.join()
    assert seen == [["true"]]
    assert dying_with_launcher(["true"])[-1] == "true" != dying_with_launcher(["true"])[0]


def test_closing_the_terminal_stops_the_bureau_and_the_next_run_works(
    env: dict[str, str], offset: int
) -> None:
    ports = bureau_ports(offset)
    first = Launcher(env)
    try:
        first.wait_for(RUNNING)
        assert not any(port_is_free(p) for p in ports), first.output()

        # `./dev run` again in another terminal: one line naming the running bureau (was
        # one line per port, each telling to kill one of its children)
        again = run_once(env)
        assert again.returncode == 1 and RUNNING not in again.stdout
        [refusal] = [line for line in again.stderr.splitlines() if "cannot start" in line]
        assert (
            f"another bureau started by ./dev run is already running here (pid {first.process.pid}"
            in refusal
        )
        assert f"kill {first.process.pid}" in refusal and "LOCAL_PORT_OFFSET" in refusal
        assert first.process.poll() is None and not any(port_is_free(p) for p in ports)

        first.process.send_signal(signal.SIGHUP)  # what closing its terminal sends
        assert first.process.wait(timeout=60) == 0, first.output()
        assert all(port_is_free(p) for p in ports), first.output()

        second = Launcher(env)  # the newcomer runs it again
        try:
            second.wait_for(RUNNING)
            second.process.kill()  # the harshest end: no chance to clean up
            second.process.wait()
            wait_until(lambda: all(port_is_free(p) for p in ports), "every port freed", 60)
        finally:
            second.process.kill()
    finally:
        first.process.kill()


def test_a_process_that_dies_later_stops_the_bureau_naming_its_log(
    env: dict[str, str], offset: int
) -> None:
    """Its own processes died and the launcher still said "running" (errors only in
    var/*.log): now a death stops everything and names the log to read."""
    ports = bureau_ports(offset)
    launcher = Launcher(env)
    try:
        launcher.wait_for(RUNNING)
        intake = next(
            int(pid)
            for pid in filter(str.isdigit, os.listdir("/proc"))
            if parent_pid(int(pid)) == launcher.process.pid
            and "-m services.intake" in (command_line(int(pid)) or "")
        )
        os.kill(intake, signal.SIGKILL)
        assert launcher.process.wait(timeout=90) == 1, launcher.output()
        log = Path(env["LOCAL_VAR_DIR"]) / "logs" / "intake.log"
        assert f"the bureau stopped: intake (exit code -9, log {log})" in launcher.output()
        wait_until(lambda: all(port_is_free(p) for p in ports), "every port freed", 60)
    finally:
        launcher.process.kill()


def test_a_store_that_cannot_start_names_its_log(tmp_path: Path) -> None:
    """The launcher said "could not start the bureau: SecantusDB exited with code 1", the
    reason only in a log nobody was told of."""
    storage = tmp_path / "store"
    storage.write_text("a file where the store's folder should be")
    log = tmp_path / "store.log"
    with pytest.raises(RuntimeError, match="exited") as refused:
        start_secantus(port=free_port(), storage_path=str(storage), log_path=str(log))
    assert str(log) in str(refused.value)
    assert "File exists" in log.read_text()


def test_a_mongodb_of_ones_own_on_the_store_port_is_offered_as_mongo_url(
    env: dict[str, str], offset: int
) -> None:
    """A developer with MongoDB installed was told to kill it."""
    port = 27017 + offset
    with socket.socket() as mongod:
        mongod.bind(("127.0.0.1", port))
        mongod.listen()
        run = run_once(env)
    assert run.returncode == 1 and RUNNING not in run.stdout
    assert f"port {port} for the store (SecantusDB) is already in use" in run.stderr
    assert f"MONGO_URL='mongodb://127.0.0.1:{port}/?directConnection=true' ./dev run" in run.stderr
