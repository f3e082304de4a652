"""The district configuration file: the example loads, broken references are refused by name."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.district import DistrictConfigError, load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

Raw = dict[str, Any]


@pytest.fixture(scope="module")
def example() -> Raw:
    """The shipped example, as plain data to break in each test."""
    raw: Raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text(encoding="utf-8"))
    return raw


def write(tmp_path: Path, raw: Raw) -> Path:
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def broken(example: Raw, change: Callable[[Raw], None]) -> Raw:
    raw = copy.deepcopy(example)
    change(raw)
    return raw


def test_the_example_district_file_loads() -> None:
    district = load_district(DEFAULT_DISTRICT_CONFIG)

    assert district.district.guarantee_hours == 72
    assert district.team(district.fallback_team) is not None
    assert any(s.role == "ombudsperson" for s in district.staff)
    assert {c.id for c in district.categories} >= {"transportation", "safety", "other"}
    for school in district.schools:
        assert district.staff_member(school.principal) is not None
        assert district.team(school.team) is not None


def test_a_valid_copy_of_the_example_loads_from_another_path(tmp_path: Path, example: Raw) -> None:
    # Guards the tests below: a failure there comes from the change, not from the round trip.
    assert load_district(write(tmp_path, example)).fallback_team == example["fallback_team"]


def test_category_routed_to_an_unknown_team_is_refused_naming_it(
    tmp_path: Path, example: Raw
) -> None:
    def change(raw: Raw) -> None:
        raw["categories"][0]["team"] = "no-such-team"

    raw = broken(example, change)
    category = raw["categories"][0]["id"]

    with pytest.raises(
        DistrictConfigError, match=f"category {category}: unknown team no-such-team"
    ):
        load_district(write(tmp_path, raw))


def test_school_with_an_unknown_principal_is_refused_naming_it(
    tmp_path: Path, example: Raw
) -> None:
    def change(raw: Raw) -> None:
        raw["schools"][0]["principal"] = "p-nobody"

    raw = broken(example, change)
    school = raw["schools"][0]["id"]

    with pytest.raises(DistrictConfigError, match=f"school {school}: unknown staff p-nobody"):
        load_district(write(tmp_path, raw))


def test_school_with_an_unknown_team_is_refused_naming_it(tmp_path: Path, example: Raw) -> None:
    def change(raw: Raw) -> None:
        raw["schools"][0]["team"] = "school-atlantis"

    raw = broken(example, change)
    school = raw["schools"][0]["id"]

    with pytest.raises(DistrictConfigError, match=f"school {school}: unknown team school-atlantis"):
        load_district(write(tmp_path, raw))


def test_unknown_fallback_team_is_refused(tmp_path: Path, example: Raw) -> None:
    raw = broken(example, lambda r: r.update(fallback_team="nowhere"))

    with pytest.raises(DistrictConfigError, match="fallback_team: unknown team nowhere"):
        load_district(write(tmp_path, raw))


def test_district_without_an_ombudsperson_is_refused(tmp_path: Path, example: Raw) -> None:
    def change(raw: Raw) -> None:
        raw["staff"] = [s for s in raw["staff"] if s["role"] != "ombudsperson"]

    with pytest.raises(DistrictConfigError, match="no ombudsperson"):
        load_district(write(tmp_path, broken(example, change)))


def test_every_dangling_reference_is_reported_at_once(tmp_path: Path, example: Raw) -> None:
    def change(raw: Raw) -> None:
        raw["categories"][0]["team"] = "no-such-team"
        raw["schools"][0]["principal"] = "p-nobody"

    with pytest.raises(DistrictConfigError) as refused:
        load_district(write(tmp_path, broken(example, change)))

    assert "no-such-team" in str(refused.value)
    assert "p-nobody" in str(refused.value)


def test_unknown_key_is_refused_so_typos_do_not_pass_silently(tmp_path: Path, example: Raw) -> None:
    raw = broken(example, lambda r: r.update(fallback_teem="service-desk"))

    with pytest.raises(DistrictConfigError, match="fallback_teem"):
        load_district(write(tmp_path, raw))


def test_missing_file_gives_a_district_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "district.yaml"

    with pytest.raises(DistrictConfigError, match="not found"):
        load_district(missing)


def test_file_that_is_not_yaml_gives_a_district_config_error(tmp_path: Path) -> None:
    path = tmp_path / "district.yaml"
    path.write_text("district: [unclosed\n", encoding="utf-8")

    with pytest.raises(DistrictConfigError, match="invalid district configuration"):
        load_district(path)
