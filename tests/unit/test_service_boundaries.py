"""Services talk to each other only through events: no service imports another service's code
(what two of them need, a contract or a district file section, lives in `shared/`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SERVICES = Path(__file__).resolve().parents[2] / "services"
NAMES = ("intake", "triage", "escalation", "notify")
# Known and owned elsewhere: intake tells the family the due time with escalation's own pure
# clock arithmetic on the seeded policies (issue 16). Nothing else may join this list.
KNOWN = {("intake/promise.py", "escalation")}


def imported_services(path: Path) -> set[str]:
    """The bureau services a module imports, at its top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] in NAMES:
                found.add(parts[1])
    return found


def test_no_service_imports_another_services_code() -> None:
    crossings = {
        (str(path.relative_to(SERVICES)), other)
        for name in NAMES
        for path in sorted((SERVICES / name).rglob("*.py"))
        for other in imported_services(path) - {name}
    }
    assert crossings - KNOWN == set(), "a service imports another's code; share it in shared/"
