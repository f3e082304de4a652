"""The operator CLI: configuration check and health, as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devtools import cli
from devtools.launcher import REPO_ROOT
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit


def test_config_check_accepts_the_example_district(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "check", str(DEFAULT_DISTRICT_CONFIG)]) == 0
    assert "valid" in capsys.readouterr().out


def test_config_check_names_a_broken_service_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["triage"] = {"assignment": "by-lottery"}
    broken = tmp_path / "district.yaml"
    broken.write_text(yaml.safe_dump(raw))
    assert cli.main(["config", "check", str(broken)]) == 1
    assert "triage" in capsys.readouterr().err


def test_config_check_names_a_broken_phone_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["phone"]["service_desk"]["hours"] = {"mon": "8 to 5"}
    broken = tmp_path / "district.yaml"
    broken.write_text(yaml.safe_dump(raw))

    assert cli.main(["config", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "phone:" in err and "service_desk" in err


def test_config_check_refuses_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["config", "check", str(tmp_path / "nope.yaml")]) == 1
    assert "not found" in capsys.readouterr().err


def test_health_reports_services_that_do_not_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("intake", "triage", "escalation", "notify"):
        monkeypatch.setenv(f"{name.upper()}_URL", "http://127.0.0.1:9")  # nothing listens
    assert cli.main(["health"]) == 1
    assert capsys.readouterr().out.count(" NO ") == 4


def test_token_command_mints_a_token_the_services_accept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shared.settings import ServiceSettings

    assert (
        cli.main(["token", "--sub", "p-lincoln", "--role", "principal", "--school", "lincoln-es"])
        == 0
    )
    principal = ServiceSettings().token_verifier().verify(capsys.readouterr().out.strip())
    assert principal.subject == "p-lincoln" and principal.schools == {"lincoln-es"}


def test_token_command_refuses_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--sub", "x", "--role", "root"]) == 2
    assert "unknown roles" in capsys.readouterr().err


def modules_loaded_by(*argv: str) -> set[str]:
    """The modules `bureau ARGV` imports, in a fresh interpreter."""
    code = (
        "import sys\nfrom devtools import cli\ntry:\n    cli.main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint(' '.join(sys.modules), file=sys.stderr)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    return set(run.stderr.split())


SERVICE_LIBRARIES = {
    "fastapi",
    "pymongo",
    "aio_pika",
    "httpx",
    "yaml",
    "shared.district",
    "shared.events",
}


def test_help_imports_nothing_of_the_services() -> None:
    loaded = modules_loaded_by("--help")
    assert not loaded & (SERVICE_LIBRARIES | {"pydantic", "jwt", "urllib.request"})


def test_token_imports_only_settings_and_signing() -> None:
    loaded = modules_loaded_by("token", "--sub", "x", "--role", "admin")
    assert {"jwt", "shared.settings"} <= loaded
    assert not loaded & SERVICE_LIBRARIES
