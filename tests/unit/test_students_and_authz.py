"""Student information sealed, masked and looked up; the permission table's reach."""

from __future__ import annotations

import base64
import os

import pytest

from services.intake.domain import Student
from services.intake.settings import IntakeSettings
from services.intake.students import (
    StudentKeyError,
    StudentVault,
    mask_id,
    mask_name,
    parse_key_ring,
    shown,
)
from shared.auth import Principal, Role
from shared.authz import TABLE, Permission, Scope, access, is_public, markdown

pytestmark = pytest.mark.unit

K1, K2 = os.urandom(32), os.urandom(32)
LUCIA = Student(name="Lucia Gonzalez", student_id="S-778812", grade="4", special_education=True)


def vault(current: str = "k1", **keys: bytes) -> StudentVault:
    return StudentVault(keys=keys or {"k1": K1}, current=current, hash_key=b"h" * 32)


def test_names_and_ids_are_masked_as_staff_see_them() -> None:
    assert mask_name("Lucia Gonzalez") == "L***a G***z"
    assert mask_name("Al") == "A***"
    assert mask_id("S-778812") == "S-****12"
    assert mask_id("1234") == "****"


def test_a_sealed_student_opens_only_with_its_key_and_its_concern() -> None:
    sealed = vault().seal(LUCIA, "concern-1")
    assert "Lucia" not in str(sealed) and "778812" not in str(sealed)
    assert sealed["kid"] == "k1"
    assert sealed["masked"] == {
        "name": "L***a G***z",
        "student_id": "S-****12",
        "grade": "4",
        "special_education": True,
    }
    assert vault().open(sealed, "concern-1") == LUCIA
    with pytest.raises(StudentKeyError):
        vault().open(sealed, "concern-2")  # copied onto another concern: refused
    with pytest.raises(StudentKeyError):
        vault("k2", k2=K2).open(sealed, "concern-1")  # its key left the ring
    tampered = {**sealed, "ciphertext": base64.b64encode(b"x" * 40).decode()}
    with pytest.raises(StudentKeyError):
        vault().open(tampered, "concern-1")


def test_rotation_reads_old_ciphertexts_and_reseals_with_the_current_key() -> None:
    old = vault().seal(LUCIA, "c")
    rotated = vault("k2", k1=K1, k2=K2)
    assert rotated.needs_resealing(old)
    assert rotated.open(old, "c") == LUCIA
    assert not rotated.needs_resealing(rotated.seal(LUCIA, "c"))


def test_a_plaintext_student_from_before_encryption_is_read_and_resealed() -> None:
    legacy = {
        "name": "Lucia Gonzalez",
        "student_id": "S-778812",
        "grade": "4",
        "special_education": False,
    }
    assert vault().needs_resealing(legacy)
    assert vault().open(legacy, "c").name == "Lucia Gonzalez"
    assert shown(legacy) == {
        "name": "L***a G***z",
        "student_id": "S-****12",
        "grade": "4",
        "special_education": False,
    }


def test_the_lookup_key_finds_a_student_without_naming_them() -> None:
    v = vault()
    assert v.lookup_key("s-778812 ") == v.lookup_key("S-778812")
    assert "778812" not in str(v.lookup_key("S-778812"))
    assert v.lookup_key(None) is None


@pytest.mark.parametrize("raw", ["not json", "{}", '{"k": "###"}', '{"k": "c2hvcnQ="}'])
def test_a_malformed_key_ring_is_refused(raw: str) -> None:
    with pytest.raises(StudentKeyError):
        parse_key_ring(raw)


def test_development_student_keys_are_refused_in_production() -> None:
    secrets = {
        "environment": "production",
        "jwt_signing_key": "a-real-key-of-enough-length-for-hs256",
        "contact_hash_key": "real-contact",
        "access_token_key": "real-access",
        "student_hash_key": "real-hash",
    }
    with pytest.raises(ValueError, match="STUDENT_DATA_KEYS"):
        IntakeSettings.model_validate(secrets)
    ring = '{"k9": "' + base64.b64encode(K1).decode() + '"}'
    IntakeSettings.model_validate(
        {**secrets, "student_data_keys": ring, "student_data_key_id": "k9"}
    )
    with pytest.raises(ValueError, match="STUDENT_DATA_KEY_ID"):
        IntakeSettings.model_validate({"student_data_keys": ring, "student_data_key_id": "k1"})


def who(*roles: Role, schools: tuple[str, ...] = (), teams: tuple[str, ...] = ()) -> Principal:
    return Principal(
        subject="x", roles=frozenset(roles), schools=frozenset(schools), teams=frozenset(teams)
    )


def test_a_principal_reaches_its_schools_and_a_team_member_its_teams() -> None:
    principal = access(who(Role.PRINCIPAL, schools=("lincoln-es",)), Permission.CONCERN_READ)
    assert principal is not None and not principal.everything
    assert principal.covers(school_id="lincoln-es", team_id=None)
    assert not principal.covers(school_id="roosevelt-ms", team_id="transportation")
    member = access(who(Role.TEAM_MEMBER, teams=("transportation",)), Permission.CONCERN_ACT)
    assert member is not None and member.covers(school_id=None, team_id="transportation")
    assert not member.covers(school_id="lincoln-es", team_id=None)


def test_roles_add_up_and_unlisted_roles_get_nothing() -> None:
    both = access(who(Role.PRINCIPAL, Role.SPECIALIST), Permission.CONCERN_ACT)
    assert both is not None and both.everything
    assert access(who(Role.AUDITOR), Permission.CONCERN_ACT) is None
    assert access(who(Role.FRONTEND), Permission.CONCERN_READ) is None
    assert access(who(), Permission.CATALOG) is None


def test_members_change_only_their_own_away_state() -> None:
    own = access(
        Principal(subject="sd-1", roles=frozenset({Role.TEAM_MEMBER})), Permission.MEMBERS_MANAGE
    )
    assert own is not None and own.covers_member("sd-1") and not own.covers_member("sd-2")


def test_the_auditor_only_reads() -> None:
    for permission, roles in TABLE.items():
        if Role.AUDITOR in roles:
            assert permission in (
                Permission.CATALOG,
                Permission.CONCERN_READ,
                Permission.DIRECTORY_READ,
                Permission.CONFIG_READ,
                Permission.OVERSIGHT_READ,
                Permission.REPORTS_READ,
                Permission.AUDIT_READ,
            ), permission
    assert TABLE[Permission.CONFIG_WRITE] == {Role.ADMIN: Scope.ALL}


def test_public_routes_are_the_listed_ones() -> None:
    assert is_public("/v1/tracking/{tracking_number}")
    assert is_public("/v1/surveys/{token}")
    assert not is_public("/v1/concerns/{concern_id}")
    assert not is_public("/v1/trackingx")


def test_the_table_renders_as_markdown_for_the_readme() -> None:
    rendered = markdown()
    assert all(f"`{p.value}`" in rendered for p in Permission)
    assert all(f"`{r.value}`" in rendered.splitlines()[0] for r in Role)
