"""A front door speaks to the services' HTTP APIs as an outside frontend would
(docs/architecture.md, "Frontends"): it owns no database and reads no service's store. It
reuses the services' request and response models, the HTTP contract, from their schema
modules only; loading a front door loads no service's context, handlers, repository, wiring or
fakes, and neither the database driver nor the broker client."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FRONTENDS = ROOT / "frontends"
# What each front door's process imports to start (`python -m frontends.<name>`): its app, its
# settings and the shared server.
STARTS = {
    "web": ("frontends.web.main", "frontends.web.settings", "frontends.common.serve"),
    "email": ("frontends.email.app", "frontends.email.settings", "frontends.common.serve"),
    "phone": ("frontends.phone.app", "frontends.phone.settings", "frontends.common.serve"),
}
# The services' modules a front door may import: their HTTP models and the pure district
# settings sections it shows (all import only pydantic, the standard library, shared/ and
# their service's pure rules).
CONTRACTS = {
    "services.escalation.calendar",
    "services.escalation.config",
    "services.escalation.policies",
    "services.escalation.schemas",
    "services.intake.access",
    "services.intake.attachment_schemas",
    "services.intake.call_schemas",
    "services.intake.config",
    "services.intake.contact_schemas",
    "services.intake.inbound_schemas",
    "services.intake.schemas",
    "services.notify.schemas",
    "services.triage.schemas",
}
IMPLEMENTATION = re.compile(r"^services\.\w+\.(context|handlers|repository|main|fakes)(\.|$)")
DRIVERS = ("pymongo", "gridfs", "bson", "aio_pika", "aiormq")
# One interpreter for the three front doors (the unit tier stays fast): the modules each loads
# are those new after its own imports, so an offender is named with the first that loads it.
PROBE = """
import importlib, json, sys
starts = json.loads(sys.argv[1])
seen = set(sys.modules)
loaded = {}
for name, modules in starts.items():
    for module in modules:
        importlib.import_module(module)
    loaded[name] = sorted(set(sys.modules) - seen)
    seen = set(sys.modules)
print(json.dumps(loaded))
"""


@pytest.fixture(scope="module")
def loaded() -> dict[str, list[str]]:
    """The modules each front door's start loads, in a fresh interpreter."""
    answer = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(STARTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    result: dict[str, list[str]] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("frontend", sorted(STARTS))
def test_a_front_door_loads_no_services_implementation(
    frontend: str, loaded: dict[str, list[str]]
) -> None:
    found = [m for m in loaded[frontend] if IMPLEMENTATION.match(m)]
    assert found == [], f"frontends/{frontend} loads a service's implementation: {found}"


@pytest.mark.parametrize("frontend", sorted(STARTS))
def test_a_front_door_loads_no_database_driver_nor_broker_client(
    frontend: str, loaded: dict[str, list[str]]
) -> None:
    found = sorted({m.split(".")[0] for m in loaded[frontend]} & set(DRIVERS))
    assert found == [], f"frontends/{frontend} loads {found}: find which import brings them"


def imported_services_modules(path: Path) -> set[str]:
    """The `services.*` modules a module imports, at its top or inside a function (for
    `from services.x import y`, `services.x.y` when y is a module, else `services.x`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "services"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "services":
                continue
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                package = ROOT / Path(*dotted.split("."))
                is_module = package.with_suffix(".py").exists() or package.is_dir()
                found.add(dotted if is_module else node.module)
    return found


def test_front_doors_import_only_the_services_contracts() -> None:
    outside = {
        (str(path.relative_to(ROOT)), module)
        for path in sorted(FRONTENDS.rglob("*.py"))
        for module in imported_services_modules(path)
        if module not in CONTRACTS
    }
    assert outside == set(), "a front door imports a service's code beyond its HTTP contract"


def test_the_import_check_sees_a_route_module_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from services.intake import attachments\n"
        "from services.triage.api import DecisionRead\n"
        "def later() -> None:\n"
        "    import services.notify.repository\n",
        encoding="utf-8",
    )
    assert imported_services_modules(sample) == {
        "services.intake.attachments",
        "services.triage.api",
        "services.notify.repository",
    }
