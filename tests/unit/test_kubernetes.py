"""The Kubernetes manifests: rendered from one generator, valid against the Kubernetes
schemas, and consistent with the code (commands, settings, probes, ports)."""

from __future__ import annotations

import asyncio
import base64
import copy
from functools import cache
from os import urandom
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from devtools.render_k8s import FRONTEND_PORTS, OUT, PORTS, render, secrets_example
from shared.settings import EXAMPLE_PLACEHOLDER
from tests.unit.test_compose import frontend_settings_class, settings_class

pytestmark = pytest.mark.unit

KUBERNETES_VERSION = "1.31.0"


@cache
def rendered() -> dict[str, str]:
    """What the generator renders (it reads only committed files): once for the module."""
    return render()


@cache
def _resources() -> tuple[dict[str, Any], ...]:
    found = []
    for name, text in rendered().items():
        if name in ("district.yaml", "kustomization.yaml"):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return tuple(found)


def resources() -> list[dict[str, Any]]:
    """The rendered manifests' documents, a copy of its own for each caller."""
    return copy.deepcopy(list(_resources()))


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [r for r in resources() if r["kind"] == kind]


def test_committed_manifests_are_what_the_generator_renders() -> None:
    for name, text in rendered().items():
        committed = OUT / name
        assert committed.exists(), f"{committed} missing: run python -m devtools.render_k8s"
        assert committed.read_text() == text, (
            f"{committed} is stale: run python -m devtools.render_k8s"
        )


def frontend_container(name: str) -> dict[str, Any]:
    (deployment,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == name]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize(
    "resource",
    [
        r
        for r in resources()
        if r["apiVersion"].split("/")[0] in ("v1", "apps", "autoscaling", "policy")
    ],
    ids=lambda r: f"{r['kind']}/{r['metadata']['name']}",
)
def test_builtin_resource_validates_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_misspelt_field() -> None:
    deployment = of_kind("Deployment")[0]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_service_has_deployment_service_autoscaler_and_disruption_budget() -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        names = {r["metadata"]["name"] for r in of_kind(kind)}
        assert names == set(PORTS) | set(FRONTEND_PORTS), kind
    for autoscaler in of_kind("HorizontalPodAutoscaler"):
        spec = autoscaler["spec"]
        assert spec["scaleTargetRef"]["name"] == autoscaler["metadata"]["name"]
        assert 1 < spec["minReplicas"] <= spec["maxReplicas"]


def test_deployments_run_the_service_with_probes_and_known_settings() -> None:
    for deployment in of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if name in FRONTEND_PORTS:
            check_frontend(name, container)
            continue
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["ports"][0]["containerPort"] == PORTS[name]
        assert container["resources"]["requests"]
        fields = {field.upper() for field in settings_class(name).model_fields}
        unknown = [e["name"] for e in container["env"] if e["name"] not in fields]
        assert not unknown, f"{name}: {unknown} are not settings of the service"
        secrets = [e for e in container["env"] if "valueFrom" in e]
        assert {e["name"] for e in secrets} >= {"AMQP_URL", "MONGO_URL"}


def check_frontend(name: str, container: dict[str, Any]) -> None:
    """A frontend runs its module, is probed, and knows every setting it is given."""
    assert container["command"] == ["python", "-m", f"frontends.{name}"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0]["containerPort"] == FRONTEND_PORTS[name]
    fields = {field.upper() for field in frontend_settings_class(name).model_fields}
    unknown = [e["name"] for e in container["env"] if e["name"] not in fields]
    assert not unknown, f"{name}: {unknown} are not settings of the frontend"
    assert "BUREAU_CLIENT_TOKEN" in {e["name"] for e in container["env"] if "valueFrom" in e}


@pytest.mark.parametrize("name", FRONTEND_PORTS)
def test_frontend_settings_accept_the_environment_the_cluster_gives(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production (ENVIRONMENT=production): every secret the settings refuse to start without
    # must be among the secrets the Deployment references (filled in as the example says).
    set_cluster_environment(name, monkeypatch, filled=True)

    settings = frontend_settings_class(name)()

    assert settings.environment == "production"
    assert settings.port == FRONTEND_PORTS[name]
    assert settings.intake_url == f"http://intake.bureau.svc:{PORTS['intake']}"


def test_email_front_door_takes_mail_over_lmtp_through_its_service() -> None:
    env = {e["name"]: e.get("value") for e in frontend_container("email")["env"]}
    (service,) = [s for s in of_kind("Service") if s["metadata"]["name"] == "email"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}

    assert ports["lmtp"]["port"] == int(env["EMAIL_LISTEN_PORT"])
    assert {"name": "lmtp", "containerPort": int(env["EMAIL_LISTEN_PORT"])} in (
        frontend_container("email")["ports"]
    )


def test_every_secret_a_pod_reads_is_in_the_example_secret() -> None:
    provided = set(secrets_example()["stringData"])
    for deployment in of_kind("Deployment"):
        for env in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
            if "valueFrom" in env:
                key = env["valueFrom"]["secretKeyRef"]["key"]
                assert key in provided, f"{deployment['metadata']['name']}: {key}"


def test_service_selectors_match_their_pods() -> None:
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind("Deployment")
    }
    for service in of_kind("Service"):
        labels = pods[service["metadata"]["name"]]
        assert service["spec"]["selector"].items() <= labels.items()


def test_rabbitmq_is_a_cluster_with_quorum_queues_and_mongodb_a_replica_set() -> None:
    (cluster,) = of_kind("RabbitmqCluster")
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    assert cluster["spec"]["replicas"] >= 3
    assert "default_queue_type = quorum" in cluster["spec"]["rabbitmq"]["additionalConfig"]
    (mongo,) = of_kind("MongoDBCommunity")
    assert mongo["spec"]["type"] == "ReplicaSet" and mongo["spec"]["members"] >= 3
    assert {u["name"] for u in mongo["spec"]["users"]} == set(PORTS)


def test_kustomization_lists_every_manifest_and_the_district_config() -> None:
    kustomization = yaml.safe_load(rendered()["kustomization.yaml"].split("\n", 1)[1])
    assert set(kustomization["resources"]) == {
        n
        for n in rendered()
        if n not in ("kustomization.yaml", "district.yaml", "secrets.example.yaml")
    }
    assert kustomization["configMapGenerator"][0]["files"] == ["district.yaml"]
    assert rendered()["district.yaml"] == (Path(OUT).parent / "district.yaml").read_text()


def family_address_seen(trusted: str, peer: str, forwarded: str) -> str:
    """The family address uvicorn hands the web, trusting `trusted` as the cluster does."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
    scope = {
        "type": "http",
        "client": (peer, 40000),
        "headers": [(b"x-forwarded-for", forwarded.encode())],
    }
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    return seen[0]


def test_the_web_believes_the_ingress_not_an_address_the_family_made_up() -> None:
    """Security (low), issue 15: with FORWARDED_ALLOW_IPS '*' uvicorn took the left-most
    X-Forwarded-For, which the family writes: rotating it passed every per-family limit. The
    ingress appends the address it saw; that one is the family's."""
    (trusted,) = [
        e["value"] for e in frontend_container("web")["env"] if e["name"] == "FORWARDED_ALLOW_IPS"
    ]
    ingress, family = "10.42.0.7", "203.0.113.9"
    made_up = f"198.51.100.1, {family}"
    assert family_address_seen(trusted, peer=ingress, forwarded=made_up) == family
    assert family_address_seen(trusted, peer=family, forwarded="198.51.100.1") == family


def set_cluster_environment(name: str, monkeypatch: pytest.MonkeyPatch, *, filled: bool) -> None:
    """The environment the Deployment `name` gives its container, with the secrets of
    secrets.example.yaml as shipped, or `filled` in by an operator (each `<...>` replaced)."""
    example = secrets_example()["stringData"]
    for env in frontend_container(name)["env"]:
        value = env.get("value") or example[env["valueFrom"]["secretKeyRef"]["key"]]
        if filled:
            value = EXAMPLE_PLACEHOLDER.sub(lambda _: base64.b64encode(urandom(32)).decode(), value)
        monkeypatch.setenv(env["name"], value)


@pytest.mark.parametrize("name", [*PORTS, *FRONTEND_PORTS])
def test_a_process_refuses_to_start_with_the_example_secrets_as_shipped(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 (as finding 6, the example Open311 key): secrets.example.yaml applied as it is
    gave notify a survey key and the web a form secret everyone knows (anyone could sign a
    survey link or a family's cookie) and passwords '<password>'; a placeholder left where a
    secret goes is refused in production."""
    set_cluster_environment(name, monkeypatch, filled=False)

    with pytest.raises(ValueError, match="still hold the example's placeholder") as refused:
        (settings_class(name) if name in PORTS else frontend_settings_class(name))()

    if name in PORTS:
        assert "AMQP_URL" in str(refused.value) and "MONGO_URL" in str(refused.value)
    if name == "notify":
        assert "SURVEY_TOKEN_KEY" in str(refused.value)
    if name == "web":
        assert "FORM_SECRET" in str(refused.value)
