"""Rules are refused with a reason naming the field when they cannot work in the district."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.triage.config import load_config
from services.triage.rules import Facts, Rule, match, rule_problems
from shared.district import DistrictConfig, DistrictConfigError, load_district
from shared.events import Channel
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def district() -> DistrictConfig:
    return load_district(DEFAULT_DISTRICT_CONFIG)


def problems(district: DistrictConfig, **body: Any) -> list[tuple[str, str]]:
    return rule_problems(Rule.model_validate({"id": "r", **body}), district)


def test_valid_rule_has_no_problems(district: DistrictConfig) -> None:
    assert (
        problems(
            district,
            conditions={"categories": ["safety"], "pattern": r"\bgun\b"},
            actions={"team": "school", "priority": "critical"},
        )
        == []
    )


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"actions": {"team": "parking"}}, "actions.team", "unknown team 'parking'"),
        (
            {"conditions": {"pattern": "(unclosed"}, "actions": {"priority": "high"}},
            "conditions.pattern",
            "not a regular expression",
        ),
        (
            {"conditions": {"pattern": r"(bus)\s+\1"}, "actions": {"priority": "high"}},
            "conditions.pattern",
            "linear time",
        ),
        (
            {"conditions": {"categories": ["lunch"]}, "actions": {"priority": "high"}},
            "conditions.categories.0",
            "unknown category",
        ),
        (
            {"conditions": {"schools": ["hogwarts"]}, "actions": {"priority": "high"}},
            "conditions.schools.0",
            "unknown school",
        ),
        (
            {"conditions": {"keywords": ["*"]}, "actions": {"priority": "high"}},
            "conditions.keywords.0",
            "empty keyword",
        ),
        ({"conditions": {"categories": ["safety"]}}, "actions", "must set"),
    ],
)
def test_unusable_rule_is_refused_naming_the_field(
    district: DistrictConfig, body: dict[str, Any], field: str, words: str
) -> None:
    found = problems(district, **body)
    assert [f for f, _ in found] == [field]
    assert words in found[0][1]


def test_configured_rule_with_unknown_team_stops_the_service_at_start(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["triage"] = {"rules": [{"id": "bad", "actions": {"team": "nobody"}}]}
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DistrictConfigError, match=r"triage.rules\[bad\].actions.team"):
        load_config(load_district(path))


def test_unknown_key_in_the_triage_section_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["triage"] = {"asignment": "round_robin"}
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DistrictConfigError, match="asignment"):
        load_config(load_district(path))


def test_a_catastrophic_pattern_runs_in_linear_time_and_never_blocks_triage(
    district: DistrictConfig,
) -> None:
    """Security #5: `^(a+)+$` on a 24-character description froze triage for 9.6 s,
    doubling per character, health checks included."""
    rule = Rule.model_validate(
        {"id": "r", "conditions": {"pattern": "^(a+)+$"}, "actions": {"priority": "high"}}
    )
    facts = Facts(
        category="other", school_id=None, channel=Channel.WEB, description="a" * 5000 + "!"
    )
    started = time.perf_counter()

    matched, _ = match(rule, facts)

    assert not matched
    assert time.perf_counter() - started < 0.05
