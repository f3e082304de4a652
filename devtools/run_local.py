"""Run the whole bureau on this machine until Ctrl-C.

- the store: `MONGO_URL` when set, else a SecantusDB server on 127.0.0.1:27017 with its data
  in `var/store`;
- the broker: `AMQP_URL` (default: the local RabbitMQ; `./dev run` starts it where installed);
- mail: an SMTP sink on 127.0.0.1:1025 keeping every mail as a `.eml` file in `var/mail/`,
  unless `SMTP_HOST` is set;
- the services on ports 8001 (intake), 8002 (triage), 8003 (escalation), 8004 (notify), and
  the frontends (web 8000, email 8005, phone 8006), logs in `var/logs/<name>.log`.

Everything it started stops with it: on Ctrl-C, on SIGTERM, when its terminal closes
(SIGHUP), and even when it is killed (the children ask the kernel for SIGTERM then). A port
already taken is refused with the process holding it; "running" is printed only once every
process answers ready, and a process that exits later stops the bureau with its log named.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from devtools.bureau import LocalBureau
from devtools.launcher import (
    DEFAULT_PORTS,
    REPO_ROOT,
    SERVICES,
    PortTaken,
    available_frontends,
    command_line,
    ensure_port_free,
    parent_pid,
)

VAR = Path(os.environ.get("LOCAL_VAR_DIR") or REPO_ROOT / "var")
# a second bureau beside the first (a test of this very command): every port moved by it
OFFSET = int(os.environ.get("LOCAL_PORT_OFFSET", "0"))
STORE_PORT = 27017 + OFFSET
SMTP_PORT = 1025 + OFFSET
WATCH_S = 1.0


def say(text: str, *, error: bool = False) -> None:
    """Print, unless the terminal is gone (closing it must still stop the bureau)."""
    try:
        print(text, file=sys.stderr if error else sys.stdout, flush=True)
    except OSError:
        pass


def ports_taken(store_port: int | None, smtp_port: int | None) -> list[str]:
    """Every port the bureau would listen on that another process holds, before starting
    anything (a half-started bureau helps nobody). Ports held by another `./dev run` (the
    launcher or its children) are one line naming that launcher, not one line per port
    telling to kill each of its children."""
    wanted = {name: DEFAULT_PORTS[name] + OFFSET for name in (*SERVICES, *available_frontends())}
    if store_port:
        wanted["the store (SecantusDB)"] = store_port
    if smtp_port:
        wanted["the SMTP sink"] = smtp_port
    problems = []
    bureaus: dict[int, list[int]] = {}  # another launcher's pid -> the ports it holds
    for what, port in wanted.items():
        try:
            ensure_port_free(port, what)
        except PortTaken as exc:
            other = running_bureau(exc.pid)
            if other is None:
                problems.append(str(exc))
                if port == store_port:  # a MongoDB of the developer's own, most likely
                    problems.append(
                        f"  (a MongoDB of your own there? use it: "
                        f"MONGO_URL='mongodb://127.0.0.1:{port}/?directConnection=true' ./dev run)"
                    )
            else:
                bureaus.setdefault(other, []).append(port)
    for pid, ports in bureaus.items():
        held = ", ".join(str(p) for p in sorted(ports))
        problems.insert(
            0,
            f"another bureau started by ./dev run is already running here (pid {pid}, "
            f"ports {held}): stop it with Ctrl-C in its terminal (or kill {pid}), or run "
            f"this one beside it with LOCAL_PORT_OFFSET={OFFSET + 100} ./dev run",
        )
    if len(problems) > len(bureaus):  # another program holds a port
        problems.append(
            f"  (or move every port of this bureau: LOCAL_PORT_OFFSET={OFFSET + 100} ./dev run)"
        )
    return problems


def running_bureau(pid: int | None) -> int | None:
    """The pid of the `./dev run` launcher that is `pid` or its parent, if either is one."""
    for candidate in (pid, parent_pid(pid) if pid is not None else None):
        if candidate is None or candidate == os.getpid():
            continue
        if "-m devtools.run_local" in (command_line(candidate) or ""):
            return candidate
    return None


class Stopped(Exception):
    """Ctrl-C, SIGTERM or the terminal closing, while the bureau was starting."""


def main() -> int:
    VAR.mkdir(exist_ok=True)
    bureau = LocalBureau(
        workdir=VAR, env={}, ports={name: port + OFFSET for name, port in DEFAULT_PORTS.items()}
    )
    stop = threading.Event()

    def on_signal(number: int, _frame: object) -> None:
        stop.set()
        if not running.is_set():
            raise Stopped(signal.Signals(number).name)

    running = threading.Event()
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, on_signal)
    store_port = (
        None if os.environ.get("MONGO_URL") else int(os.environ.get("LOCAL_STORE_PORT", STORE_PORT))
    )
    smtp_port = None if os.environ.get("SMTP_HOST") else SMTP_PORT
    taken = ports_taken(store_port, smtp_port)
    if taken:
        for problem in taken:  # a hint, indented, follows the problem it helps with
            say(
                problem if problem.startswith(" ") else f"cannot start the bureau: {problem}",
                error=True,
            )
        return 1
    status = 0
    try:
        if store_port is None:
            say(f"store: {os.environ['MONGO_URL']} (from MONGO_URL)")
        else:
            url = bureau.start_store(store_port)
            # Without retryable writes: the stand-in keeps a record of each for 30 minutes
            # and walks them all on every write (14 ms a write past 10,000 of them, against
            # 0.6 ms); a production MongoDB keeps the drivers' default, on (README).
            bureau.env["MONGO_URL"] = f"{url}&retryWrites=false"
            say(f"store: SecantusDB at {url}, data in {VAR / 'store'}")
        if smtp_port is None:
            say(f"mail: SMTP server {os.environ['SMTP_HOST']} (from SMTP_HOST)")
        else:
            bureau.start_smtp(smtp_port, VAR / "mail")
            say(f"mail: SMTP sink on 127.0.0.1:{smtp_port}, mails saved in {VAR / 'mail'}")
        say("starting services ...")
        bureau.start_services(fixed_ports=True)
        bureau.start_frontends(fixed_ports=True)
        for name in (*SERVICES, *available_frontends()):
            say(f"  {name:<11} {bureau.url(name)}   log: {VAR / 'logs' / (name + '.log')}")
        gone = bureau.exited()
        if gone:
            raise RuntimeError(f"exited while starting: {', '.join(gone)}")
        running.set()
        say("the bureau is running; Ctrl-C stops it")
        while not stop.wait(WATCH_S):
            gone = bureau.exited()
            if gone:
                say(f"the bureau stopped: {', '.join(gone)} exited", error=True)
                status = 1
                break
    except (KeyboardInterrupt, Stopped):
        pass
    except Exception as exc:
        say(f"could not start the bureau: {exc}", error=True)
        status = 1
    finally:
        say("stopping ...")
        bureau.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
