"""The Kubernetes manifests: rendered from one generator, valid against the Kubernetes
schemas, and consistent with the code (commands, settings, probes, ports)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from devtools.render_k8s import FRONTEND_PORTS, OUT, PORTS, render
from tests.unit.test_compose import settings_class

pytestmark = pytest.mark.unit

KUBERNETES_VERSION = "1.31.0"


def resources() -> list[dict[str, Any]]:
    found = []
    for name, text in render().items():
        if name in ("district.yaml", "kustomization.yaml"):
            continue
        found += [doc for doc in yaml.safe_load_all(text) if doc]
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [r for r in resources() if r["kind"] == kind]


def test_committed_manifests_are_what_the_generator_renders() -> None:
    for name, text in render().items():
        committed = OUT / name
        assert committed.exists(), f"{committed} missing: run python -m devtools.render_k8s"
        assert committed.read_text() == text, (
            f"{committed} is stale: run python -m devtools.render_k8s")


@pytest.mark.parametrize("resource", [r for r in resources()
                                      if r["apiVersion"].split("/")[0]
                                      in ("v1", "apps", "autoscaling", "policy")],
                         ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_builtin_resource_validates_against_the_kubernetes_schema(
        resource: dict[str, Any]) -> None:
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
    import importlib

    from frontends.common.settings import FrontendSettings

    assert container["command"] == ["python", "-m", f"frontends.{name}"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0]["containerPort"] == FRONTEND_PORTS[name]
    module = importlib.import_module(f"frontends.{name}.settings")
    (settings,) = [c for c in vars(module).values() if isinstance(c, type)
                   and issubclass(c, FrontendSettings) and c.__module__ == module.__name__]
    fields = {field.upper() for field in settings.model_fields}
    unknown = [e["name"] for e in container["env"] if e["name"] not in fields]
    assert not unknown, f"{name}: {unknown} are not settings of the frontend"
    assert "BUREAU_CLIENT_TOKEN" in {e["name"] for e in container["env"] if "valueFrom" in e}


def test_service_selectors_match_their_pods() -> None:
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in of_kind("Deployment")}
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
    kustomization = yaml.safe_load(render()["kustomization.yaml"].split("\n", 1)[1])
    assert set(kustomization["resources"]) == {
        n for n in render() if n not in ("kustomization.yaml", "district.yaml",
                                         "secrets.example.yaml")}
    assert kustomization["configMapGenerator"][0]["files"] == ["district.yaml"]
    assert render()["district.yaml"] == (Path(OUT).parent / "district.yaml").read_text()
