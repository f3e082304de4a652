"""docker-compose.yml and the Dockerfile match the code (no Docker engine is needed to check)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from devtools import secrets
from devtools.launcher import DEFAULT_PORTS
from frontends.common.settings import FrontendSettings
from shared.auth import DEVELOPMENT_SIGNING_KEY
from shared.settings import REPO_ROOT, ServiceSettings

pytestmark = pytest.mark.unit

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
SERVICES = ("intake", "triage", "escalation", "notify")
FRONTENDS = ("web", "email", "phone")
# The only bureau service with a fixed host port: the others scale (`--scale triage=3`).
PUBLISHED = {"intake"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


# `${NAME}`, `${NAME:-default}`, `${NAME:?error}`: compose takes them from the shell or
# `.env` beside the file (a `?` one refuses to start without it)
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")


@pytest.fixture(scope="module")
def dot_env() -> dict[str, str]:
    """What `python -m devtools.secrets > .env` writes, as compose reads it."""
    return secrets.generate()


def environment(service: dict[str, Any], dot_env: dict[str, str] | None = None) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two compose forms it uses,
    as compose gives it with `dot_env` as `.env` (none: neither the shell nor `.env` sets a
    variable)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    values = dot_env or {}

    def value(m: re.Match[str]) -> str:
        return values.get(m.group(1)) or (m.group(3) if m.group(2) == "-" else "") or ""

    return {key: INTERPOLATION.sub(value, str(value_)) for key, value_ in env.items()}


def _settings_class(package: str, name: str, base: type[Any]) -> type[Any]:
    """The one `base` subclass defined in `<package>.<name>.settings`."""
    module_name = f"{package}.{name}.settings"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        pytest.fail(
            f"{module_name} does not exist ({exc}); docker-compose.yml runs "
            f"`python -m {package}.{name}`, which needs it"
        )
    classes = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, base) and cls is not base and cls.__module__ == module.__name__
    ]
    if len(classes) != 1:
        pytest.fail(
            f"{module_name} should define exactly one {base.__name__} subclass, "
            f"found {[c.__name__ for c in classes]}"
        )
    return classes[0]


def settings_class(name: str) -> type[ServiceSettings]:
    """The ServiceSettings subclass defined in `services.<name>.settings`."""
    found: type[ServiceSettings] = _settings_class("services", name, ServiceSettings)
    return found


def frontend_settings_class(name: str) -> type[FrontendSettings]:
    """The FrontendSettings subclass defined in `frontends.<name>.settings`."""
    found: type[FrontendSettings] = _settings_class("frontends", name, FrontendSettings)
    return found


# every process compose runs from the bureau's image: (package, name)
PROCESSES = [("services", name) for name in SERVICES] + [("frontends", name) for name in FRONTENDS]


def process_settings_class(package: str, name: str) -> type[Any]:
    """The settings class of `<package>.<name>`."""
    return settings_class(name) if package == "services" else frontend_settings_class(name)


def settings_from_compose(
    service: dict[str, Any],
    settings: type[Any],
    dot_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The settings a process validates at startup (types, cross-field rules, the production
    refusals of development secrets) from exactly compose's values and the generated `.env`."""
    for key, value in environment(service, dot_env).items():
        monkeypatch.setenv(key, value)
    return settings()


def host_ports(service: dict[str, Any]) -> list[str]:
    """Host ports a service publishes (short or long syntax)."""
    published = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published"):
                published.append(str(port["published"]))
        elif ":" in str(port):
            published.append(str(port).rsplit(":", 1)[0].rsplit(":", 1)[-1])
    return published


def test_compose_runs_rabbitmq_mongo_a_mail_sink_and_the_four_services(
    services: dict[str, Any],
) -> None:
    assert set(services) >= {"rabbitmq", "mongo", "mailpit", *SERVICES}
    assert str(services["rabbitmq"]["image"]).startswith("rabbitmq:")
    assert str(services["mongo"]["image"]).startswith("mongo:")


@pytest.mark.parametrize(("package", "name"), PROCESSES)
def test_each_process_runs_its_own_module(
    services: dict[str, Any], package: str, name: str
) -> None:
    assert services[name]["command"] == ["python", "-m", f"{package}.{name}"]
    assert importlib.util.find_spec(f"{package}.{name}.__main__") is not None, (
        f"{package}/{name}/__main__.py is missing: the compose command would fail"
    )


@pytest.mark.parametrize(("package", "name"), PROCESSES)
def test_every_environment_variable_is_a_setting_of_its_process(
    services: dict[str, Any], package: str, name: str
) -> None:
    fields = {field.upper() for field in process_settings_class(package, name).model_fields}

    unknown = set(environment(services[name])) - fields

    assert not unknown, f"{name}: {sorted(unknown)} are not fields of its settings class"


@pytest.mark.parametrize("name", SERVICES)
def test_compose_environment_is_accepted_by_the_settings_class(
    services: dict[str, Any], name: str, dot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from_compose(services[name], settings_class(name), dot_env, monkeypatch)

    assert settings.database == name
    assert settings.host == "0.0.0.0"
    assert settings.environment == "production"


@pytest.mark.parametrize("name", SERVICES + FRONTENDS)
def test_compose_runs_in_production_and_refuses_to_start_without_the_env_file(
    services: dict[str, Any], name: str, dot_env: dict[str, str]
) -> None:
    """Security #3: compose ran in development mode with the signing key printed in the
    code."""
    declared = " ".join(str(v) for v in (services[name].get("environment") or {}).values())
    required = set(REQUIRED.findall(declared))

    assert environment(services[name])["ENVIRONMENT"] == "production"
    assert required, f"{name} takes no secret from .env"
    assert required <= set(dot_env), f"{name}: `devtools.secrets` does not write {required}"
    assert "guest" not in declared


@pytest.mark.parametrize("name", SERVICES)
def test_development_keys_are_refused_by_the_production_settings(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in environment(services[name], secrets.generate()).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JWT_SIGNING_KEY", DEVELOPMENT_SIGNING_KEY)

    with pytest.raises(ValueError, match="JWT_SIGNING_KEY"):
        settings_class(name)()


def test_admin_ports_listen_on_this_host_only(services: dict[str, Any]) -> None:
    """Security #3: intake, RabbitMQ's management (guest/guest) and the mail viewer were
    published on every interface; so was the email front door's LMTP, which takes any sender
    it is given (a parent's address included) without the district's mail server's checks."""
    for name in ("intake", "rabbitmq", "mailpit", "email"):
        for port in services[name]["ports"]:
            assert str(port).startswith("127.0.0.1:"), (name, port)
    rabbit = services["rabbitmq"]["environment"]
    assert rabbit["RABBITMQ_DEFAULT_USER"] != "guest"
    assert REQUIRED.fullmatch(str(rabbit["RABBITMQ_DEFAULT_PASS"]))


def test_generated_env_file_holds_fresh_secrets_compose_reads_literally() -> None:
    first, second = secrets.generate(), secrets.generate()
    text = secrets.env_file(first)

    assert all(first[k] != second[k] for k in first if k != "STUDENT_DATA_KEY_ID")
    assert len(first["JWT_SIGNING_KEY"]) >= 32
    assert DEVELOPMENT_SIGNING_KEY not in text
    assert f"STUDENT_DATA_KEYS='{first['STUDENT_DATA_KEYS']}'" in text.splitlines()


@pytest.mark.parametrize("name", SERVICES)
def test_broker_and_store_urls_point_at_the_compose_services(
    services: dict[str, Any], name: str
) -> None:
    env = environment(services[name])
    amqp, mongo = urlparse(env["AMQP_URL"]), urlparse(env["MONGO_URL"])

    assert amqp.scheme == "amqp" and amqp.hostname == "rabbitmq" and amqp.port == 5672
    assert mongo.scheme == "mongodb" and mongo.hostname == "mongo"
    assert "replicaSet=rs0" in mongo.query
    assert "--replSet" in services["mongo"]["command"]
    assert (
        services["mongo"]["command"][services["mongo"]["command"].index("--replSet") + 1] == "rs0"
    )


def test_each_service_owns_its_own_database(services: dict[str, Any]) -> None:
    databases = {name: environment(services[name])["MONGO_DB"] for name in SERVICES}

    assert len(set(databases.values())) == len(SERVICES), databases
    assert databases == {name: name for name in SERVICES}


def test_notify_sends_mail_to_the_compose_mail_sink(services: dict[str, Any]) -> None:
    env = environment(services["notify"])

    assert env["SMTP_HOST"] == "mailpit"
    assert env["SMTP_PORT"] == "1025"
    assert "mailpit" in services["notify"]["depends_on"]


def test_every_dependency_waits_for_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions, not a list"
        for dependency, condition in depends_on.items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert services[dependency].get("healthcheck", {}).get("test"), (
                f"{name} waits for {dependency}, which has no healthcheck"
            )


@pytest.mark.parametrize("name", SERVICES)
def test_service_waits_for_broker_and_store_and_reports_readiness(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]

    assert {"rabbitmq", "mongo"} <= set(service["depends_on"])
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["restart"] == "unless-stopped"
    assert "PORT" in environment(service)


def test_only_intake_publishes_a_host_port_so_the_others_scale(services: dict[str, Any]) -> None:
    published = {name: host_ports(services[name]) for name in SERVICES}

    assert {name for name, ports in published.items() if ports} == PUBLISHED
    assert published["intake"] == [environment(services["intake"])["PORT"]]


def test_no_two_services_share_a_fixed_host_port(services: dict[str, Any]) -> None:
    ports = [port for service in services.values() for port in host_ports(service)]

    assert len(ports) == len(set(ports)), ports


def test_compose_runs_the_three_front_doors(services: dict[str, Any]) -> None:
    assert set(services) >= set(FRONTENDS)


@pytest.mark.parametrize("name", FRONTENDS)
def test_compose_environment_is_accepted_by_the_frontend_settings(
    services: dict[str, Any], name: str, dot_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from_compose(
        services[name], frontend_settings_class(name), dot_env, monkeypatch
    )

    assert settings.environment == "production"
    assert settings.host == "0.0.0.0"
    assert settings.port == DEFAULT_PORTS[name]
    assert urlparse(settings.intake_url).hostname == "intake"


@pytest.mark.parametrize("name", FRONTENDS)
def test_frontend_waits_for_intake_and_reports_readiness(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]

    assert "intake" in service["depends_on"]
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert host_ports(service), f"{name} must be reachable from the host"


def test_phone_checks_webhook_signatures_with_the_token_from_the_env_file(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = str(services["phone"]["environment"]["TWILIO_AUTH_TOKEN"])
    assert INTERPOLATION.fullmatch(declared), "TWILIO_AUTH_TOKEN must come from `.env`"
    for key, value in environment(services["phone"]).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-dot-env")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("BUREAU_CLIENT_TOKEN", "a-frontend-token")

    token = frontend_settings_class("phone")().model_dump()["twilio_auth_token"]

    assert token.get_secret_value() == "from-dot-env"


def test_phone_refuses_to_start_in_production_when_the_env_file_has_no_token(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in environment(services["phone"]).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("BUREAU_CLIENT_TOKEN", "a-frontend-token")

    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        frontend_settings_class("phone")()


def test_dockerfile_runs_as_a_non_root_user_from_python_3_11() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")

    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_dockerfile_points_the_settings_at_the_district_file_it_copies() -> None:
    # Installed with pip, shared/ no longer sits next to deploy/: the default path is wrong.
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    configured = re.search(r"DISTRICT_CONFIG=(\S+)", dockerfile)
    assert configured is not None, "the Dockerfile must set DISTRICT_CONFIG"
    workdir, copied = _district_copy(dockerfile)

    assert configured.group(1) == str(Path(workdir) / copied)
    assert "DISTRICT_CONFIG" in {f.upper() for f in ServiceSettings.model_fields}


def _district_copy(dockerfile: str) -> tuple[str, str]:
    """The WORKDIR in force and the destination of the `COPY deploy/district.yaml` line."""
    workdir = "/"
    for line in dockerfile.splitlines():
        if line.startswith("WORKDIR "):
            workdir = line.split(maxsplit=1)[1]
        elif line.startswith("COPY deploy/district.yaml"):
            return workdir, line.split()[-1]
    pytest.fail("the Dockerfile does not copy deploy/district.yaml")


@pytest.mark.parametrize("name", SERVICES)
def test_a_stop_is_given_the_time_the_service_may_need_before_it_is_killed(
    services: dict[str, Any], name: str
) -> None:
    given: dict[str, Any] = {
        key.lower(): float(value)
        for key, value in environment(services[name]).items()
        if key in ("SHUTDOWN_GRACE_S", "IO_TIMEOUT_S")
    }
    settings = ServiceSettings.model_construct(**given)
    grace = services[name]["stop_grace_period"]
    assert grace.endswith("s")

    # drained in-flight events and a last outbox pass, not a SIGKILL half way
    assert float(grace[:-1]) >= settings.shutdown_bound_s


def test_the_email_front_door_answers_through_the_compose_mail_relay(
    services: dict[str, Any],
) -> None:
    # its own answers (an attachment refused) went to 127.0.0.1 inside its container
    env = environment(services["email"])

    assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailpit", "1025")
    assert "mailpit" in services["email"]["depends_on"]
