"""The health endpoints every frontend answers: `/healthz` (alive) and `/readyz` (intake
answers, so a family's request can be served)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from frontends.common.intake import IntakeClient


def health_router() -> APIRouter:
    """`/healthz` and `/readyz`; the readiness check uses `app.state.intake` (an
    `IntakeClient`, set in the frontend's lifespan)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        intake: IntakeClient | None = getattr(request.app.state, "intake", None)
        if intake is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        if not await intake.ready():
            return JSONResponse({"status": "not ready", "intake": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return router
