"""Dead letters of a service: list, show, replay, purge.

    python -m devtools.dlq list notify
    python -m devtools.dlq show notify <message-id>
    python -m devtools.dlq replay notify [--id <message-id>]
    python -m devtools.dlq purge notify --yes

Reads AMQP_URL and QUEUE_PREFIX from the environment, like the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import aio_pika
from aiormq.exceptions import ChannelNotFoundEntity

from devtools.launcher import SERVICES
from shared.messaging.dead_letters import list_parked, purge_parked, replay_parked
from shared.settings import ServiceSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.dlq",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the parked messages of a service")
    listing.add_argument("service", choices=SERVICES)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser("show", help="one parked message, whole")
    show.add_argument("service", choices=SERVICES)
    show.add_argument("message_id")
    replay = commands.add_parser("replay", help="send parked messages back to the service")
    replay.add_argument("service", choices=SERVICES)
    replay.add_argument("--id", dest="message_id", help="only this message")
    purge = commands.add_parser("purge", help="drop every parked message of a service")
    purge.add_argument("service", choices=SERVICES)
    purge.add_argument("--yes", action="store_true", help="really drop them")
    return parser


async def run(args: argparse.Namespace, settings: ServiceSettings) -> int:
    dlq = settings.queue("dlq", args.service)
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.io_timeout_s)
    try:
        channel = await connection.channel(publisher_confirms=True)
        if args.command == "list":
            parked = await list_parked(channel, dlq, limit=args.limit)
            for message in parked:
                if args.json:
                    print(json.dumps(message.summary()))
                else:
                    print(
                        f"{message.position:>4}  {message.message_id}  {message.event_type}  "
                        f"concern={message.subject}  attempts={message.attempts}\n"
                        f"      error: {message.error}"
                    )
            print(f"{len(parked)} parked message(s) in {dlq}", file=sys.stderr)
        elif args.command == "show":
            parked = await list_parked(channel, dlq, limit=10_000)
            found = [m for m in parked if m.message_id == args.message_id]
            if not found:
                print(f"no message {args.message_id} in {dlq}", file=sys.stderr)
                return 1
            print(
                json.dumps(
                    {**found[0].summary(), "body": found[0].body.decode(errors="replace")}, indent=2
                )
            )
        elif args.command == "replay":
            count = await replay_parked(
                channel, dlq, settings.queue("events", args.service), message_id=args.message_id
            )
            print(
                f"replayed {count} message(s) from {dlq} to "
                f"{settings.queue('events', args.service)}"
            )
            if args.message_id and count == 0:
                return 1
        elif args.command == "purge":
            if not args.yes:
                print("purge drops messages for good; add --yes to confirm", file=sys.stderr)
                return 2
            print(f"dropped {await purge_parked(channel, dlq)} message(s) from {dlq}")
        return 0
    except ChannelNotFoundEntity:
        print(
            f"{dlq} does not exist: has {args.service} ever started on this broker?",
            file=sys.stderr,
        )
        return 1
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return asyncio.run(run(args, ServiceSettings()))


if __name__ == "__main__":
    sys.exit(main())
