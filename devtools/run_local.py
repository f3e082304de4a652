"""Run the whole bureau on this machine until Ctrl-C.

- the store: `MONGO_URL` when set, else a SecantusDB server on 127.0.0.1:27017 with its data
  in `var/store`;
- the broker: `AMQP_URL` (default: the local RabbitMQ; `./dev run` starts it where installed);
- mail: an SMTP sink on 127.0.0.1:1025 keeping every mail as a `.eml` file in `var/mail/`,
  unless `SMTP_HOST` is set;
- the services on ports 8001 (intake), 8002 (triage), 8003 (escalation), 8004 (notify), logs
  in `var/logs/<service>.log`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from devtools.bureau import LocalBureau
from devtools.launcher import REPO_ROOT, SERVICES, available_frontends

VAR = REPO_ROOT / "var"
STORE_PORT = 27017
SMTP_PORT = 1025


def main() -> int:
    VAR.mkdir(exist_ok=True)
    bureau = LocalBureau(workdir=VAR, env={})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if os.environ.get("MONGO_URL"):
            print(f"store: {os.environ['MONGO_URL']} (from MONGO_URL)", flush=True)
        else:
            url = bureau.start_store(int(os.environ.get("LOCAL_STORE_PORT", STORE_PORT)))
            print(f"store: SecantusDB at {url}, data in {VAR / 'store'}", flush=True)
        if os.environ.get("SMTP_HOST"):
            print(f"mail: SMTP server {os.environ['SMTP_HOST']} (from SMTP_HOST)", flush=True)
        else:
            bureau.start_smtp(SMTP_PORT, VAR / "mail")
            print(f"mail: SMTP sink on 127.0.0.1:{SMTP_PORT}, mails saved in {VAR / 'mail'}",
                  flush=True)
        print("starting services ...", flush=True)
        bureau.start_services(fixed_ports=True)
        bureau.start_frontends(fixed_ports=True)
        for name in (*SERVICES, *available_frontends()):
            print(f"  {name:<11} {bureau.url(name)}   log: {VAR / 'logs' / (name + '.log')}",
                  flush=True)
        print("the bureau is running; Ctrl-C stops it", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        print(f"could not start the bureau: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping ...", flush=True)
        bureau.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

