"""Every test module names its tier, and `-m` passes over the modules of other tiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiers import TIERS, deselected, module_tier

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_names_its_tier_in_a_pytestmark_line() -> None:
    modules = sorted(TESTS.rglob("test_*.py"))
    without = [str(m.relative_to(TESTS)) for m in modules if module_tier(m) is None]

    assert modules
    assert without == [], f"add `pytestmark = pytest.mark.<{'|'.join(TIERS)}>` to {without}"


def test_the_unit_tier_imports_no_e2e_browser_or_integration_module() -> None:
    assert deselected(TESTS / "e2e", "unit")
    assert deselected(TESTS / "browser", "unit")
    assert deselected(TESTS / "integration" / "test_messaging.py", "unit")
    assert deselected(TESTS / "email" / "test_email_e2e.py", "unit")


def test_a_mixed_folder_is_entered_and_its_modules_of_the_tier_kept() -> None:
    assert not deselected(TESTS / "email", "unit")
    assert not deselected(TESTS / "email" / "test_email_domain.py", "unit")
    assert not deselected(TESTS / "email" / "test_email_e2e.py", "e2e or browser")
    assert deselected(TESTS / "email" / "test_email_domain.py", "not unit")


@pytest.mark.parametrize("markexpr", ["", "slow", "unit and not slow", "integration or flaky"])
def test_an_expression_naming_other_markers_imports_everything(markexpr: str) -> None:
    # a test's own marker could select it, so the tier line alone cannot rule a module out
    assert not deselected(TESTS / "e2e" / "test_concern_flow.py", markexpr)
    assert not deselected(TESTS / "e2e", markexpr)
