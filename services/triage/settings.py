from __future__ import annotations

from shared.settings import ServiceSettings


class TriageSettings(ServiceSettings):
    service_name: str = "triage"
    port: int = 8002
