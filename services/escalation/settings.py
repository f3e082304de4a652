from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class EscalationSettings(ServiceSettings):
    service_name: str = "escalation"
    port: int = 8003
    scheduler_tick_s: float = Field(
        default=0.5, gt=0, description="how often due clocks are sought"
    )
    clock_lease_s: float = Field(
        default=30.0, gt=0, description="how long a claimed clock is reserved for its replica"
    )
