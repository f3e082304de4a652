"""The raw ceiling of an HTTP intake on this machine: FastAPI + pydantic validation of the same
body as intake's, and optionally one confirmed publish to RabbitMQ per request (CEILING_MODE =
`validate` or `publish`). Nothing else: no store, no outbox.

    CEILING_MODE=publish PORT=9100 python -m bench.ceiling_app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import uvicorn
from fastapi import FastAPI

from services.intake.api import ConcernCreate

MODE = os.environ.get("CEILING_MODE", "validate")
EXCHANGE = os.environ.get("CEILING_EXCHANGE", "bench.ceiling")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if MODE == "publish":
        connection = await aio_pika.connect_robust(
            os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
        )
        channel = await connection.channel(publisher_confirms=True)
        app.state.exchange = await channel.declare_exchange(EXCHANGE, "topic", auto_delete=True)
        yield
        await connection.close()
    else:
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/v1/concerns", status_code=201)
async def create(body: ConcernCreate) -> dict[str, str]:
    concern_id = str(uuid.uuid4())
    if MODE == "publish":
        await app.state.exchange.publish(
            aio_pika.Message(
                body.model_dump_json().encode(),
                message_id=concern_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="concern.submitted",
        )
    return {"id": concern_id, "tracking_number": concern_id}


if __name__ == "__main__":
    uvicorn.run(
        app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False
    )
