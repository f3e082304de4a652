"""The message templates (per event, channel and language), seeded and edited by admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain import ChannelName, Kind
from services.notify.templates import MessageTemplate, fallback_languages, template_key
from shared.cache import Cached
from shared.clock import as_utc
from shared.store import Document

TEMPLATES = "templates"
CACHE_TTL_S = 5.0


@dataclass(frozen=True)
class StoredTemplate:
    template: MessageTemplate
    updated_at: datetime
    origin: str


def _template(doc: Document) -> StoredTemplate:
    return StoredTemplate(
        template=MessageTemplate(
            kind=Kind(doc["kind"]),
            channel=ChannelName(doc["channel"]),
            language=doc["language"],
            subject=doc.get("subject"),
            body=doc["body"],
        ),
        updated_at=as_utc(doc["updated_at"]),
        origin=doc.get("origin", "seed"),
    )


class TemplateRepository:
    def __init__(self, db: AsyncDatabase[Document], cache_ttl_s: float = CACHE_TTL_S) -> None:
        self._templates = db[TEMPLATES]
        # rendering reads templates for every message: keep them all (a few dozen) in memory
        self._cached: Cached[dict[str, StoredTemplate]] = Cached(self._by_key, cache_ttl_s)

    async def _by_key(self) -> dict[str, StoredTemplate]:
        return {t.template.key: t for t in await self.all()}

    async def seed(self, templates: list[MessageTemplate], now: datetime) -> int:
        """Insert the shipped templates that are missing and bring those nobody edited
        (`origin` seed) to the shipped wording, in one write; edited ones are kept. Returns
        how many were inserted or reworded."""
        if not templates:
            return 0
        writes: list[UpdateOne] = []
        for t in templates:
            fields = {
                "kind": t.kind.value,
                "channel": t.channel.value,
                "language": t.language,
                "subject": t.subject,
                "body": t.body,
                "updated_at": now,
                "origin": "seed",
            }
            writes.append(UpdateOne({"_id": t.key}, {"$setOnInsert": fields}, upsert=True))
            # a release that rewords a message reaches districts that kept the shipped text
            writes.append(
                UpdateOne(
                    {
                        "_id": t.key,
                        "origin": "seed",
                        "$nor": [{"subject": t.subject, "body": t.body}],
                    },
                    {"$set": fields},
                )
            )
        result = await self._templates.bulk_write(writes, ordered=False)
        self._cached.invalidate()
        return result.upserted_count + result.modified_count

    async def get(self, kind: Kind, channel: ChannelName, language: str) -> StoredTemplate | None:
        return (await self._cached.get()).get(template_key(kind, channel, language))

    async def find(self, kind: Kind, channel: ChannelName, language: str) -> MessageTemplate | None:
        """The template in `language`, else in English."""
        for lang in fallback_languages(language):
            stored = await self.get(kind, channel, lang)
            if stored is not None:
                return stored.template
        return None

    async def put(self, template: MessageTemplate, now: datetime) -> StoredTemplate:
        await self._templates.update_one(
            {"_id": template.key},
            {
                "$set": {
                    "kind": template.kind.value,
                    "channel": template.channel.value,
                    "language": template.language,
                    "subject": template.subject,
                    "body": template.body,
                    "updated_at": now,
                    "origin": "admin",
                }
            },
            upsert=True,
        )
        self._cached.invalidate()
        return StoredTemplate(template, now, "admin")

    async def all(self) -> list[StoredTemplate]:
        docs = await self._templates.find({}).sort("_id", 1).to_list()
        return [_template(d) for d in docs]
