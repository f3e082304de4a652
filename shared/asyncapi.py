"""The AsyncAPI 3 document of the bureau's events, generated from the contract.

    python -m shared.asyncapi > docs/asyncapi.yaml

The document is committed; a test keeps it in step with `shared/events.py`.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events import CATALOGUE, EventSpec, Exchange

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMA_REF = "#/components/schemas/{model}"
EXCHANGES = {Exchange.PUBLIC: "bureau.events", Exchange.PRIVATE: "bureau.private"}


def _message_name(spec: EventSpec) -> str:
    return spec.data_model.__name__


def _envelope_schema(spec: EventSpec) -> dict[str, Any]:
    """The CloudEvents structured-mode envelope around this event's data."""
    return {
        "type": "object",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "subject",
            "datacontenttype",
            "data",
        ],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "description": "unique per event; consumers dedupe on it"},
            "source": {"type": "string", "const": f"/bureau/{spec.producer}"},
            "type": {"type": "string", "const": spec.type},
            "time": {"type": "string", "format": "date-time"},
            "subject": {
                "type": "string",
                "description": "the concern id (board.packet_ready: board-packet-<month>)",
            },
            "datacontenttype": {"type": "string", "const": "application/json"},
            "traceparent": {
                "type": "string",
                "description": "W3C trace context of the concern's trace",
            },
            "data": {"$ref": SCHEMA_REF.format(model=spec.data_model.__name__)},
        },
    }


def build_document() -> dict[str, Any]:
    """The whole AsyncAPI document, as a plain dict."""
    models: list[tuple[type[BaseModel], Any]] = [
        (spec.data_model, "validation") for spec in CATALOGUE.values()
    ]
    _, definitions = models_json_schema(models, ref_template=SCHEMA_REF)
    schemas: dict[str, Any] = dict(sorted(definitions.get("$defs", {}).items()))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, spec in sorted(CATALOGUE.items()):
        message = _message_name(spec)
        schemas[f"{message}Event"] = _envelope_schema(spec)
        messages[message] = {
            "name": name,
            "title": message,
            "summary": (spec.data_model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": SCHEMA_REF.format(model=f"{message}Event")},
            "bindings": {
                "amqp": {"messageType": spec.type, "bindingVersion": AMQP_BINDING_VERSION}
            },
        }
        exchange = EXCHANGES[spec.exchange]
        channels[name] = {
            "address": name,
            "title": f"{name} on {exchange}",
            "description": (
                "Private: readable only by bureau services."
                if spec.exchange is Exchange.PRIVATE
                else "Public: bind a queue to this routing key to receive it."
            ),
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": exchange,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        operations[f"{spec.producer}Sends{message}"] = {
            "action": "send",
            "title": f"{spec.producer} publishes {name}",
            "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{message}"}],
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}},
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "District Customer Service Bureau events",
            "version": "1.0.0",
            "description": (
                "Every state change of a concern, as CloudEvents 1.0 (JSON structured mode) on "
                "RabbitMQ. Public events travel on the topic exchange `bureau.events` (routing "
                "key = event name) and never carry student information or requester contact "
                "details; district systems bind their own durable queue to it. Private events "
                "travel on `bureau.private`, readable only by bureau services. Messages are "
                "persistent; delivery is at least once, so consumers dedupe on the event `id`. "
                "A breaking change is a new `.v2` type, never a changed `.v1`."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "bureau": {
                "host": "rabbitmq:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The district's RabbitMQ (vhost /).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    """The document as YAML, stable from run to run."""
    return yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
