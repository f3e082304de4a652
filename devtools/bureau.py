"""A whole bureau on one machine: the four services as processes, an SMTP sink, a store.

Shared by `python -m devtools.run_local`, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools.launcher import (
    DEFAULT_PORTS,
    SERVICES,
    ServiceProcess,
    available_frontends,
    ensure_port_free,
    free_port,
    start_secantus,
    stop_process,
)
from devtools.smtp_sink import SmtpSink


@dataclass
class LocalBureau:
    """Starts and stops the bureau's processes; `env` is given to every service."""

    workdir: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    smtp: SmtpSink | None = None
    store: subprocess.Popen[bytes] | None = None
    own_stores: list[subprocess.Popen[bytes]] = field(default_factory=list)
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def start_store(self, port: int | None = None) -> str:
        """A SecantusDB server on `port` keeping its data under workdir; returns its URL."""
        port = port or free_port()
        storage = self.workdir / "store"
        storage.mkdir(parents=True, exist_ok=True)
        self.store = start_secantus(
            port=port, storage_path=str(storage), log_path=str(self.workdir / "store.log")
        )
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        self.env["MONGO_URL"] = url
        return url

    def start_store_per_service(self, names: tuple[str, ...] = SERVICES) -> dict[str, str]:
        """One more SecantusDB server per service (a stand-in's single lock then serves one
        service, as separate MongoDB deployments would); answers each service's `MONGO_URL`,
        to pass in `per_service_env`."""
        urls = {}
        for name in names:
            port = free_port()
            storage = self.workdir / f"store-{name}"
            storage.mkdir(parents=True, exist_ok=True)
            self.own_stores.append(
                start_secantus(
                    port=port,
                    storage_path=str(storage),
                    log_path=str(self.workdir / f"store-{name}.log"),
                )
            )
            urls[name] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        return urls

    def start_smtp(self, port: int = 0, keep_in: Path | None = None) -> SmtpSink:
        if port:
            ensure_port_free(port, "the SMTP sink")
        self.smtp = SmtpSink(port, keep_in).start()
        self.env["SMTP_HOST"] = "127.0.0.1"
        self.env["SMTP_PORT"] = str(self.smtp.port)
        return self.smtp

    def start_services(
        self,
        names: tuple[str, ...] = SERVICES,
        *,
        fixed_ports: bool = False,
        per_service_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Start the services and wait until each answers `/readyz`."""
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for name in names:
            port = self.ports.get(name) or (DEFAULT_PORTS[name] if fixed_ports else free_port())
            self.ports[name] = port
            env = {**self.env, **(per_service_env or {}).get(name, {})}
            self.services[name] = ServiceProcess(name, port, env, logs / f"{name}.log").start()
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(lambda n: self.services[n].wait_ready(), names))

    def start_frontends(
        self,
        names: tuple[str, ...] | None = None,
        *,
        fixed_ports: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start frontends (default: every one in this checkout) against the running services,
        which they reach through `INTAKE_URL`, `TRIAGE_URL`, `ESCALATION_URL`, `NOTIFY_URL`."""
        names = available_frontends() if names is None else names
        if not names:
            return
        urls = {f"{name.upper()}_URL": self.url(name) for name in SERVICES if name in self.services}
        self.start_services(
            names,
            fixed_ports=fixed_ports,
            per_service_env={name: {**urls, **(env or {})} for name in names},
        )

    def start_replica(self, name: str) -> str:
        """Another process of a started service (its settings, a port of its own), ready; its
        key in `services` is `name#2`, `name#3`, ... (`restart` and `kill` take that key)."""
        first = self.services[name]
        n = 2
        while f"{name}#{n}" in self.services:
            n += 1
        key = f"{name}#{n}"
        log = first.log_path.with_name(f"{name}-{n}.log")
        self.services[key] = ServiceProcess(name, free_port(), dict(first.env), log).start()
        self.services[key].wait_ready()
        return key

    def replicas(self, name: str) -> list[str]:
        """The keys of a service's processes: `name` and its replicas."""
        return [key for key in self.services if key == name or key.startswith(f"{name}#")]

    def restart(self, name: str) -> None:
        service = self.services[name]
        service.start()
        service.wait_ready()

    def url(self, name: str) -> str:
        return self.services[name].url

    def exited(self) -> list[str]:
        """`name (exit code N)` of each started service or frontend that is no longer
        running, and of the store."""
        gone = [
            f"{name} (exit code {service.process.returncode}, log {service.log_path})"
            for name, service in self.services.items()
            if service.process is not None and not service.running
        ]
        if self.store is not None and self.store.poll() is not None:
            gone.append(
                f"store (exit code {self.store.returncode}, log {self.workdir / 'store.log'})"
            )
        return gone

    def stop(self) -> None:
        with ThreadPoolExecutor(max(len(self.services), 1)) as pool:
            list(pool.map(lambda s: s.stop(), self.services.values()))
        if self.smtp is not None:
            self.smtp.stop()
        for store in [*self.own_stores, *([self.store] if self.store else [])]:
            stop_process(store)
