from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class TriageSettings(ServiceSettings):
    service_name: str = "triage"
    port: int = 8002
    cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="how long rules and out-of-office state are kept in memory: another "
        "replica's change of them is seen within this time (0: always read)",
    )
