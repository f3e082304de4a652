"""Files a family chose on the concern form, kept by the web between the form and "Send my
concern": intake gets nothing before the family confirms.

Each form's files sit in a folder of their own, named by a keyed hash of the form's
idempotency key and the browser's CSRF cookie (another browser holding the key finds
nothing), under `UPLOAD_DIR`, never served on any address. A form's files are dropped once
sent, or `UPLOAD_TTL_S` after they were last changed; all forms together hold at most
`UPLOAD_STASH_MAX_BYTES` (past it a file is not kept, and the family is told to add it later).
Several web replicas share the folder (a shared volume) or route a family to one replica.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST = "files.json"


@dataclass(frozen=True)
class StashedFile:
    """One kept file: its id (to remove it), its name, type and size."""

    id: str
    filename: str
    content_type: str
    size: int


class StashFull(Exception):
    """The web holds as many files as it may for now."""


class Stash:
    """The files of forms not sent yet, on the web's own disk, bounded in size and time."""

    def __init__(
        self,
        directory: Path | None,
        *,
        secret: str,
        ttl_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="bureau-web-uploads-"))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self._secret = secret.encode()
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock

    def _folder(self, key: str, owner: str) -> Path:
        name = hmac.new(self._secret, f"{owner}\n{key}".encode(), hashlib.sha256).hexdigest()
        return self.directory / name[:40]

    def _manifest(self, folder: Path) -> tuple[float, list[StashedFile]] | None:
        try:
            raw = json.loads((folder / MANIFEST).read_text())
            return float(raw["changed"]), [StashedFile(**f) for f in raw["files"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self, folder: Path, files: list[StashedFile]) -> None:
        temporary = folder / f".{MANIFEST}.{uuid.uuid4().hex}"
        temporary.write_text(
            json.dumps({"changed": self._clock(), "files": [asdict(f) for f in files]})
        )
        os.replace(temporary, folder / MANIFEST)

    def files(self, key: str, owner: str) -> list[StashedFile]:
        """The files kept for this form, in the order they were chosen (none once expired)."""
        folder = self._folder(key, owner)
        found = self._manifest(folder)
        if found is None:
            return []
        changed, files = found
        if self._clock() - changed > self.ttl_s:
            shutil.rmtree(folder, ignore_errors=True)
            return []
        return files

    def add(
        self, key: str, owner: str, filename: str, content_type: str, data: bytes
    ) -> StashedFile:
        """Keep one file for this form; `StashFull` when all forms hold too much already."""
        self.sweep()
        if self.used_bytes() + len(data) > self.max_bytes:
            raise StashFull
        folder = self._folder(key, owner)
        folder.mkdir(mode=0o700, exist_ok=True)
        files = self.files(key, owner)
        kept = StashedFile(uuid.uuid4().hex[:12], filename, content_type, len(data))
        (folder / kept.id).write_bytes(data)
        self._save(folder, [*files, kept])
        return kept

    def read(self, key: str, owner: str, file_id: str) -> bytes:
        return (self._folder(key, owner) / file_id).read_bytes()

    def remove(self, key: str, owner: str, file_id: str) -> None:
        """Forget one file of this form (an unknown id changes nothing)."""
        folder = self._folder(key, owner)
        files = self.files(key, owner)
        if not any(f.id == file_id for f in files):
            return
        self._save(folder, [f for f in files if f.id != file_id])
        (folder / file_id).unlink(missing_ok=True)

    def move(self, key: str, new_key: str, owner: str) -> None:
        """The files of a form, now under the form's new idempotency key."""
        folder = self._folder(key, owner)
        if folder.is_dir():
            os.replace(folder, self._folder(new_key, owner))

    def drop(self, key: str, owner: str) -> None:
        """Forget every file of this form (it was sent)."""
        shutil.rmtree(self._folder(key, owner), ignore_errors=True)

    def sweep(self) -> None:
        """Drop the forms whose files were last changed longer ago than the time they keep."""
        now = self._clock()
        for folder in self.directory.iterdir():
            found = self._manifest(folder) if folder.is_dir() else None
            changed = found[0] if found else _modified(folder)
            if now - changed > self.ttl_s:
                shutil.rmtree(folder, ignore_errors=True)

    def used_bytes(self) -> int:
        return sum(
            sum(f.size for f in found[1])
            for folder in self.directory.iterdir()
            if folder.is_dir() and (found := self._manifest(folder)) is not None
        )


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
