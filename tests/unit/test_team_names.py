"""A district names its teams in the languages of its families (`names` beside `name`); the
configuration check refuses what is not a language or is empty, and English stands in for a
language without a name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devtools import cli
from shared.district import load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)


def test_the_shipped_teams_have_spanish_names_and_english_stands_in_for_other_languages() -> None:
    transportation = DISTRICT.team("transportation")
    assert transportation is not None
    assert transportation.name_in("es") == "Departamento de Transporte"
    assert transportation.name_in("en") == transportation.name_in("vi") == transportation.name
    assert all(team.names.get("es") for team in DISTRICT.teams)


def test_a_team_name_as_a_familys_view_gives_it_is_put_in_the_familys_language() -> None:
    assert DISTRICT.team_name_in("Enrollment Center", "es") == "Centro de Inscripción"
    assert DISTRICT.team_name_in("Enrollment Center", "en") == "Enrollment Center"
    assert DISTRICT.team_name_in("Facilities", "es") == "Facilities"  # not in this file
    assert DISTRICT.team_name_in(None, "es") is None  # not routed yet


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ({"Spanish": "Transporte"}, "names.Spanish: not a language code"),
        ({"es": "  "}, "names.es: empty"),
    ],
)
def test_config_check_refuses_a_team_name_that_is_not_a_language_or_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: dict[str, str], problem: str
) -> None:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["teams"][1]["names"] = names
    broken = tmp_path / "district.yaml"
    broken.write_text(yaml.safe_dump(raw, allow_unicode=True))
    assert cli.main(["config", "check", str(broken)]) == 1
    assert problem in capsys.readouterr().err
