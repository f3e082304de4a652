"""`./dev`: `run` installs only what running needs, `test` the test tools too, each once per
change of pyproject.toml, and says what it installs. Run in a copy with a recording `pip`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.launcher import REPO_ROOT

pytestmark = pytest.mark.unit

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The `dev` script and pyproject.toml in a folder whose .venv only records its calls."""
    shutil.copy(REPO_ROOT / "dev", tmp_path / "dev")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "pip", "pytest"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    return tmp_path


def not_root_and_no_broker(checkout: Path) -> Path:
    """A machine where the user is not root (`id -u` says 1000), apt-get and
    rabbitmq-server only record their calls, and the broker check (`python - URL`) finds
    nothing listening; answers the folder of those commands, to put first on PATH."""
    shims = checkout / "shims"
    shims.mkdir()
    for tool, script in {
        "id": 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi',
        "apt-get": 'echo "apt-get $*" >> "$(dirname "$0")/../.venv/calls.log"; exit 100',
        "rabbitmq-server": 'echo "rabbitmq-server $*" >> "$(dirname "$0")/../.venv/calls.log"',
    }.items():
        (shims / tool).write_text(f"#!/bin/sh\n{script}\n")
        (shims / tool).chmod(0o755)
    python = checkout / ".venv" / "bin" / "python"
    python.write_text(RECORDER + '[ "$1" = - ] && exit 1\nexit 0\n')
    return shims


def dev(checkout: Path, command: str) -> tuple[list[str], str]:
    """Run `./dev COMMAND`; answers the pip installs it made and what it told the user."""
    log = checkout / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(checkout / "dev"), command],
        cwd=checkout,
        env={**os.environ, "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    return [c for c in calls if c.startswith("pip install") and " -e " in c], done.stderr


@pytest.mark.skipif(
    not (Path("/usr/bin/chromium").exists() and Path("/usr/sbin/dovecot").exists()),
    reason="./dev test would install Chromium and Dovecot first",
)
def test_run_installs_what_running_needs_and_test_adds_the_test_tools(checkout: Path) -> None:
    installs, told = dev(checkout, "run")
    assert installs == ["pip install --progress-bar on -e .[local]"]
    assert "installing the bureau (what running it needs)" in told
    assert "installed in" in told
    assert dev(checkout, "run")[0] == [], "installed once"

    installs, told = dev(checkout, "test")
    assert installs == ["pip install --progress-bar on -e .[test]"]
    assert "test tools" in told
    assert dev(checkout, "run")[0] == [], "the test tools include what running needs"

    future = (checkout / "pyproject.toml").stat().st_mtime + 5
    os.utime(checkout / "pyproject.toml", (future, future))  # a dependency changed
    assert dev(checkout, "run")[0] == ["pip install --progress-bar on -e .[local]"]


def test_pyproject_keeps_test_and_lint_tools_out_of_what_running_needs() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    for tool in ("pytest", "ruff", "mypy", "playwright", "schemathesis", "SecantusDB"):
        assert tool not in runtime
    for frontend_need in ("jinja2", "babel", "twilio", "imap-tools", "fastapi-offline"):
        assert frontend_need in runtime
    extras = project["optional-dependencies"]
    assert extras["local"] == ["SecantusDB==0.7.0b3"]
    assert "district-customer-service-bureau[local]" in extras["test"]
    assert "district-customer-service-bureau[test]" in extras["dev"]


def test_a_user_who_is_not_root_is_told_how_to_get_rabbitmq_not_failed_in_apt(
    checkout: Path,
) -> None:
    """A newcomer on their own machine is not root: `./dev run` went to `apt-get install`
    or `rabbitmq-server -detached` and ended in apt's "Permission denied" (or a minute of
    waiting). Now it says what to run, and runs neither."""
    shims = not_root_and_no_broker(checkout)
    (checkout / ".venv" / ".installed-local").touch()
    done = subprocess.run(
        ["bash", str(checkout / "dev"), "run"],
        cwd=checkout,
        env={
            **os.environ,
            "PATH": f"{shims}:{os.environ['PATH']}",
            "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "needs root" in done.stderr and "sudo " in done.stderr, done.stderr
    assert "AMQP_URL" in done.stderr
    calls = (checkout / ".venv" / "calls.log").read_text().splitlines()
    assert not [c for c in calls if c.startswith(("apt-get", "rabbitmq-server"))], calls
    assert not [c for c in calls if "devtools.run_local" in c], "the bureau was not started"


def test_the_unit_tier_needs_no_broker_browser_or_mail_server(checkout: Path) -> None:
    """`./dev test -m unit` runs pure tests only: it neither installs Chromium or Dovecot nor
    starts RabbitMQ (here nothing answers and the user is not root, which would stop it)."""
    shims = not_root_and_no_broker(checkout)
    (checkout / ".venv" / ".installed-test").touch()

    def dev_test(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(checkout / "dev"), "test", *arguments],
            cwd=checkout,
            env={
                **os.environ,
                "PATH": f"{shims}:{os.environ['PATH']}",
                "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = dev_test("-q", "-m", "unit")
    assert done.returncode == 0, done.stderr
    calls = (checkout / ".venv" / "calls.log").read_text().splitlines()
    assert "pytest -q -m unit" in calls
    assert not [c for c in calls if c.startswith(("apt-get", "rabbitmq-server"))], calls

    # any other selection still needs the broker, and says how to get one
    assert dev_test("-m", "integration").returncode == 1
