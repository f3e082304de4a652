"""Student information at rest: sealed with AES-GCM, shown masked, looked up by a keyed hash.

A concern's student is stored as `{"kid", "nonce", "ciphertext", "masked"}`: the key id
names the key of the ring that sealed it (so keys can rotate: new writes use the current key,
old ciphertexts stay readable and are re-sealed at startup), the concern id is the associated
data (a ciphertext copied onto another concern does not open), and `masked` is what staff see
by default ("L***a G***z", "S-****12"). The student id is also kept as an HMAC under its own
key (`student_key`), so that the record of disclosures of one student can be found without
storing the id in clear. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.intake.domain import Student
from shared.store import Document

NONCE_BYTES = 12


class StudentKeyError(ValueError):
    """The key ring is malformed, or a stored student names a key the ring lacks."""


def parse_key_ring(raw: str) -> dict[str, bytes]:
    """`{"k1": "<base64 of 16, 24 or 32 bytes>", ...}` as key bytes by id."""
    try:
        ring = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StudentKeyError(
            "STUDENT_DATA_KEYS must be a JSON object of key id -> base64 key"
        ) from exc
    if not isinstance(ring, dict) or not ring:
        raise StudentKeyError("STUDENT_DATA_KEYS must name at least one key")
    keys = {}
    for kid, encoded in ring.items():
        try:
            key = base64.b64decode(str(encoded), validate=True)
        except ValueError as exc:
            raise StudentKeyError(f"student data key {kid!r} is not base64") from exc
        if len(key) not in (16, 24, 32):
            raise StudentKeyError(f"student data key {kid!r} must be 16, 24 or 32 bytes")
        keys[str(kid)] = key
    return keys


def mask_name(name: str) -> str:
    """Each word's first and last letter: "Lucia Gonzalez" -> "L***a G***z"."""
    return " ".join(w[0] + "***" + w[-1] if len(w) > 2 else w[0] + "***" for w in name.split())


def mask_id(student_id: str) -> str:
    """The first and last two characters, the rest hidden: "S-778812" -> "S-****12"."""
    if len(student_id) <= 4:
        return "*" * len(student_id)
    middle = "".join("-" if c == "-" else "*" for c in student_id[1:-2])
    return student_id[0] + middle + student_id[-2:]


def masked(student: Student) -> dict[str, Any]:
    """What staff see without revealing: masked name and id, grade, special-education flag."""
    return {
        "name": mask_name(student.name) if student.name else None,
        "student_id": mask_id(student.student_id) if student.student_id else None,
        "grade": student.grade,
        "special_education": student.special_education,
    }


def is_sealed(stored: Mapping[str, Any]) -> bool:
    """Whether a stored student is sealed (else a plaintext one from before encryption)."""
    return "ciphertext" in stored


@dataclass(frozen=True)
class StudentVault:
    """Seals and opens students with a key ring; the current key seals new ones."""

    keys: Mapping[str, bytes]
    current: str
    hash_key: bytes

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise StudentKeyError(
                f"STUDENT_DATA_KEY_ID {self.current!r} is not in STUDENT_DATA_KEYS"
            )

    def seal(self, student: Student, concern_id: str) -> Document:
        """The stored form of a concern's student."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(asdict(student), sort_keys=True).encode()
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plain, concern_id.encode())
        return {
            "kid": self.current,
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode(),
            "masked": masked(student),
        }

    def open(self, stored: Mapping[str, Any], concern_id: str) -> Student:
        """The student of a concern, from its sealed (or legacy plaintext) stored form."""
        if not is_sealed(stored):
            return _legacy(stored)
        key = self.keys.get(stored["kid"])
        if key is None:
            raise StudentKeyError(f"no student data key {stored['kid']!r} in the ring")
        try:
            plain = AESGCM(key).decrypt(
                base64.b64decode(stored["nonce"]),
                base64.b64decode(stored["ciphertext"]),
                concern_id.encode(),
            )
        except InvalidTag as exc:
            raise StudentKeyError("student information does not open with its key") from exc
        return Student(**json.loads(plain))

    def needs_resealing(self, stored: Mapping[str, Any]) -> bool:
        """Plaintext from before encryption, or sealed with a key that is no longer current."""
        return not is_sealed(stored) or stored.get("kid") != self.current

    def lookup_key(self, student_id: str | None) -> str | None:
        """A keyed hash of a student id (case and spaces ignored): finds, never reveals."""
        if not student_id or not student_id.strip():
            return None
        normalized = student_id.strip().upper()
        return hmac.new(self.hash_key, normalized.encode(), hashlib.sha256).hexdigest()


def shown(stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The masked student of a stored concern (computed for a legacy plaintext one)."""
    if not stored:
        return None
    if is_sealed(stored):
        return dict(stored["masked"])
    return masked(_legacy(stored))


def _legacy(stored: Mapping[str, Any]) -> Student:
    return Student(
        name=stored.get("name"),
        student_id=stored.get("student_id"),
        grade=stored.get("grade"),
        special_education=bool(stored.get("special_education")),
    )
