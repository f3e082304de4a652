"""Putting a file into one of intake's GridFS buckets (a concern's attachments, a form's pending
files) so that a failed upload leaves nothing behind.

GridFS writes a file's chunks first and its files document last: an upload that fails between
the two (the store gone, a timeout, intake stopped) leaves chunks no file names, which no list
shows and no delete finds. Each upload therefore records itself first (`file_uploads`, by
bucket and file id) and forgets that record once the file is whole; a sweep deletes the chunks
of every upload recorded longer than `UPLOAD_STALE` ago whose file never appeared. A deletion
(files document first, then chunks) is recorded the same way. A failed
upload is not cleaned at once: another replica may be writing a file of the same id (a form
sent twice at once), and only time tells the two apart.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from gridfs import AsyncGridFSBucket, NoFile
from gridfs.errors import FileExists
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import Document

log = logging.getLogger(__name__)

UPLOADS = "file_uploads"
# far longer than storing the largest file a concern takes; an older upload has failed
UPLOAD_STALE = timedelta(minutes=10)
SWEEP_BATCH = 100


def _uploads(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    return db[UPLOADS]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """The uploads under way by when they started (for the sweep)."""
    await _uploads(db).create_index("started_at")


async def put_file(
    db: AsyncDatabase[Document],
    bucket: str,
    file_id: str,
    filename: str,
    data: bytes,
    *,
    metadata: dict[str, Any],
    now: datetime,
) -> bool:
    """Store `data` as the file `file_id` of `bucket`; False when a file of that id exists
    already (another replica stored it). A failure propagates; the chunks it left are deleted by
    `sweep_uploads`."""
    record = f"{bucket}:{file_id}"
    await _uploads(db).update_one(
        {"_id": record},
        {"$set": {"bucket": bucket, "file_id": file_id, "started_at": now}},
        upsert=True,
    )
    try:
        await AsyncGridFSBucket(db, bucket_name=bucket).upload_from_stream_with_id(
            file_id, filename, data, metadata=metadata
        )
    except FileExists:  # the record stays: the sweep finds the file whole, or its chunks alone
        return False
    await _uploads(db).delete_one({"_id": record})  # whole: another upload of it finds it
    return True


async def delete_file(
    db: AsyncDatabase[Document], bucket: str, file_id: str, now: datetime
) -> None:
    """Delete the file `file_id` of `bucket` (none: nothing changes). GridFS deletes the files
    document, then the chunks: should the store fail in between, the record written first
    (already stale) lets the next `sweep_uploads` delete the chunks left."""
    record = f"{bucket}:{file_id}"
    await _uploads(db).update_one(
        {"_id": record},
        {"$set": {"bucket": bucket, "file_id": file_id, "started_at": now - UPLOAD_STALE}},
        upsert=True,
    )
    try:
        await AsyncGridFSBucket(db, bucket_name=bucket).delete(file_id)
    except NoFile:  # deleted by another replica meanwhile
        pass
    await _uploads(db).delete_one({"_id": record})


async def sweep_uploads(
    db: AsyncDatabase[Document], now: datetime, *, batch: int = SWEEP_BATCH
) -> int:
    """Settle up to `batch` uploads recorded before `now - UPLOAD_STALE`: the chunks of each
    whose file never appeared are deleted. Answers how many were settled (a full batch: call
    again)."""
    cutoff = now - UPLOAD_STALE
    stale = (
        await _uploads(db)
        .find({"started_at": {"$lte": cutoff}})
        .sort("started_at", 1)
        .limit(batch)
        .to_list()
    )
    orphaned = 0
    for upload in stale:
        claimed = await _uploads(db).delete_one(
            {"_id": upload["_id"], "started_at": {"$lte": cutoff}}
        )
        if claimed.deleted_count == 0:  # settled by another replica, or started again since
            continue
        bucket, file_id = upload["bucket"], upload["file_id"]
        if await db[f"{bucket}.files"].find_one({"_id": file_id}, {"_id": 1}) is None:
            await db[f"{bucket}.chunks"].delete_many({"files_id": file_id})
            orphaned += 1
    if orphaned:
        log.info("chunks of failed uploads deleted", extra={"count": orphaned})
    return len(stale)
