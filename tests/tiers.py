"""The test tiers, and which test modules a `-m` expression can leave unimported.

Every test module names its tier in one line, `pytestmark = pytest.mark.<tier>`. Read from the
source, that line lets `pytest -m unit` pass over the e2e, browser and integration modules
without importing them (and what they import: schemathesis, Playwright, the launcher), so the
unit tier costs what its own tests cost.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

TIERS = ("unit", "integration", "e2e", "browser", "faults")
_TIER_LINE = re.compile(r"^pytestmark = \[?pytest\.mark\.(\w+)\b", re.MULTILINE)
_NAME = re.compile(r"[A-Za-z_]\w*")
_OPERATORS = {"and", "or", "not"}


def module_tier(path: Path) -> str | None:
    """The tier a test module declares in its `pytestmark` line, if it declares one."""
    match = _TIER_LINE.search(path.read_text(encoding="utf-8"))
    return match.group(1) if match and match.group(1) in TIERS else None


@cache
def tier_selected(markexpr: str, tier: str) -> bool:
    """Whether `-m markexpr` can select a test of `tier`; True whenever the expression names
    anything besides tiers (a test's own markers could then decide)."""
    if set(_NAME.findall(markexpr)) - _OPERATORS - set(TIERS):
        return True
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # pytest moved its parser: import everything, as pytest would
        return True

    def is_tier(name: str, /, **kwargs: str | int | bool | None) -> bool:
        return name == tier

    return Expression.compile(markexpr).evaluate(is_tier)


def deselected(path: Path, markexpr: str) -> bool:
    """Whether nothing under `path` (a test module or a folder of them) can be selected by
    `-m markexpr`, judged from the tier lines alone."""
    if not markexpr:
        return False
    if path.is_dir():
        modules = sorted(path.rglob("test_*.py"))
        return bool(modules) and all(deselected(module, markexpr) for module in modules)
    if not (path.name.startswith("test_") and path.suffix == ".py"):
        return False
    tier = module_tier(path)
    return tier is not None and not tier_selected(markexpr, tier)
