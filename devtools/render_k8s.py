"""Renders the Kubernetes manifests of the bureau into deploy/kubernetes/.

    python -m devtools.render_k8s            # rewrite deploy/kubernetes/*.yaml
    kubectl apply -k deploy/kubernetes       # what an operator runs (after creating secrets)

One template for the four services and the three front doors (web, email, phone):
Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget; RabbitMQ as a
`RabbitmqCluster` (RabbitMQ Cluster Operator, quorum queues) and MongoDB as a
`MongoDBCommunity` replica set (MongoDB Community Operator).
The manifests are committed; a test renders them again, compares, and validates them against
the Kubernetes schemas.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "deploy" / "kubernetes"
NAMESPACE = "bureau"
IMAGE = "ghcr.io/district-bureau/bureau:0.1.0"
PORTS = {"intake": 8001, "triage": 8002, "escalation": 8003, "notify": 8004}
REPLICAS = {"intake": 2, "triage": 2, "escalation": 2, "notify": 2}
MAX_REPLICAS = {"intake": 10, "triage": 6, "escalation": 4, "notify": 6}
PUBLIC_BASE_URL = "https://bureau.district.example"


@dataclass(frozen=True)
class Frontend:
    """A front door: a stateless client of the services' HTTP APIs (`frontends/<name>`),
    rendered by the same template as the others; what sets it apart is said here."""

    port: int
    max_replicas: int
    env: dict[str, str] = field(default_factory=dict)
    # environment variable -> key of the secret
    secrets: dict[str, str] = field(default_factory=dict)
    # more ports than HTTP (container and Service), by name
    ports: dict[str, int] = field(default_factory=dict)
    # whether its settings read deploy/district.yaml (DISTRICT_CONFIG)
    district: bool = True


FRONTENDS = {
    "web": Frontend(
        8000,
        6,
        # the ingress appends the family's address to X-Forwarded-For: believe the cluster's
        # own (private) addresses only, never "*", which believes what a family writes there;
        # narrow it to the ingress controller's pods where they are known
        env={"FORWARDED_ALLOW_IPS": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"},
        secrets={"FORM_SECRET": "web-form-secret"},
    ),
    # An LMTP listener for the district's mail server (no IMAP polling: two replicas polling
    # one mailbox would race; a district that polls runs one replica with IMAP_* settings).
    "email": Frontend(
        8005,
        4,
        district=False,
        ports={"lmtp": 2525},
        env={
            "BUREAU_ADDRESS": "Customer Service Bureau <bureau@district.example>",
            # the district's mail server (its authserv-id): only its Authentication-Results
            # say whether a sender is forged or vouched for
            "EMAIL_AUTHSERV_ID": "mx.district.example",
            "EMAIL_LISTEN_HOST": "0.0.0.0",
            "EMAIL_LISTEN_PORT": "2525",
            "SMTP_STARTTLS": "true",
        },
        secrets={
            "SMTP_HOST": "smtp-host",
            "SMTP_PORT": "smtp-port",
            "SMTP_USERNAME": "smtp-username",
            "SMTP_PASSWORD": "smtp-password",
        },
    ),
    # The provider's voice and messaging webhooks; the signature covers the public URL.
    "phone": Frontend(
        8006,
        6,
        env={"PHONE_PUBLIC_URL": "https://phone.district.example"},
        secrets={"TWILIO_AUTH_TOKEN": "twilio-auth-token"},
    ),
}
FRONTEND_PORTS = {name: frontend.port for name, frontend in FRONTENDS.items()}
REPLICAS.update({name: 2 for name in FRONTENDS})
MAX_REPLICAS.update({name: frontend.max_replicas for name, frontend in FRONTENDS.items()})
LABELS = {"app.kubernetes.io/part-of": "district-bureau"}
SECRET = "bureau-secrets"
DISTRICT_CONFIG_MAP = "bureau-district"


TERMINATION_GRACE_S = math.ceil(ServiceSettings.model_construct().shutdown_bound_s) + 5
"""Seconds Kubernetes waits after SIGTERM: the default settings' longest stop, and a margin."""


def _meta(name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": NAMESPACE,
        "labels": {**LABELS, "app.kubernetes.io/name": component},
    }


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}}}


def service_env(service: str) -> list[dict[str, Any]]:
    """Environment of one service: plain settings, then secrets by reference."""
    env: list[dict[str, Any]] = [
        {"name": "HOST", "value": "0.0.0.0"},
        {"name": "PORT", "value": str(PORTS[service])},
        {"name": "ENVIRONMENT", "value": "production"},
        {"name": "MONGO_DB", "value": service},
        {"name": "DISTRICT_CONFIG", "value": "/etc/bureau/district.yaml"},
        {"name": "LOG_LEVEL", "value": "INFO"},
        _secret_env("JWT_ISSUER", "jwt-issuer"),
        _secret_env("JWT_AUDIENCE", "jwt-audience"),
        _secret_env("JWT_JWKS_URL", "jwt-jwks-url"),
        _secret_env("AMQP_URL", f"amqp-url-{service}"),
        _secret_env("MONGO_URL", f"mongo-url-{service}"),
    ]
    if service == "intake":
        env.append(_secret_env("CONTACT_HASH_KEY", "contact-hash-key"))
        env.append(_secret_env("ACCESS_TOKEN_KEY", "access-token-key"))
        env.append(_secret_env("STUDENT_DATA_KEYS", "student-data-keys"))
        env.append(_secret_env("STUDENT_DATA_KEY_ID", "student-data-key-id"))
        env.append(_secret_env("STUDENT_HASH_KEY", "student-hash-key"))
    if service == "notify":
        env += [
            _secret_env("SURVEY_TOKEN_KEY", "survey-token-key"),
            {"name": "SMTP_STARTTLS", "value": "true"},
            _secret_env("SMTP_HOST", "smtp-host"),
            _secret_env("SMTP_PORT", "smtp-port"),
            _secret_env("SMTP_USERNAME", "smtp-username"),
            _secret_env("SMTP_PASSWORD", "smtp-password"),
        ]
    return env


def port_of(name: str) -> int:
    return PORTS.get(name) or FRONTEND_PORTS[name]


def frontend_env(name: str) -> list[dict[str, Any]]:
    """Environment of a frontend: the services' addresses, its client token, its own
    settings, then its secrets by reference."""
    frontend = FRONTENDS[name]
    district = [{"name": "DISTRICT_CONFIG", "value": "/etc/bureau/district.yaml"}]
    return [
        {"name": "HOST", "value": "0.0.0.0"},
        {"name": "PORT", "value": str(frontend.port)},
        {"name": "ENVIRONMENT", "value": "production"},
        *(district if frontend.district else []),
        {"name": "LOG_LEVEL", "value": "INFO"},
        *(
            {"name": f"{service.upper()}_URL", "value": f"http://{service}.{NAMESPACE}.svc:{port}"}
            for service, port in PORTS.items()
        ),
        {"name": "PUBLIC_BASE_URL", "value": PUBLIC_BASE_URL},
        *({"name": key, "value": value} for key, value in frontend.env.items()),
        _secret_env("BUREAU_CLIENT_TOKEN", f"{name}-client-token"),
        *(_secret_env(key, secret) for key, secret in frontend.secrets.items()),
    ]


def extra_ports(name: str) -> dict[str, int]:
    """A frontend's ports beyond HTTP (the email front door's LMTP)."""
    frontend = FRONTENDS.get(name)
    return frontend.ports if frontend else {}


def deployment(service: str) -> dict[str, Any]:
    port = port_of(service)
    frontend = service in FRONTEND_PORTS
    selector = {"app.kubernetes.io/name": service}
    probe = {
        "httpGet": {"path": "/readyz", "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(service, service),
        "spec": {
            "replicas": REPLICAS[service],
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": {**LABELS, **selector},
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(port),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    # longer than a stop can take: in-flight events drain before SIGKILL
                    "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [
                        {
                            "name": service,
                            "image": IMAGE,
                            "command": [
                                "python",
                                "-m",
                                f"{'frontends' if frontend else 'services'}.{service}",
                            ],
                            "ports": [
                                {"name": "http", "containerPort": port},
                                *(
                                    {"name": n, "containerPort": p}
                                    for n, p in extra_ports(service).items()
                                ),
                            ],
                            "env": frontend_env(service) if frontend else service_env(service),
                            "readinessProbe": probe,
                            "livenessProbe": {
                                **probe,
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "failureThreshold": 6,
                            },
                            "startupProbe": {**probe, "failureThreshold": 30, "periodSeconds": 5},
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "384Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "district", "mountPath": "/etc/bureau", "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "district", "configMap": {"name": DISTRICT_CONFIG_MAP}}],
                },
            },
        },
    }


def service_resources(service: str) -> list[dict[str, Any]]:
    """Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget of a service."""
    selector = {"app.kubernetes.io/name": service}
    return [
        deployment(service),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(service, service),
            "spec": {
                "selector": selector,
                "ports": [
                    {"name": "http", "port": port_of(service), "targetPort": "http"},
                    *(
                        {"name": n, "port": p, "targetPort": n}
                        for n, p in extra_ports(service).items()
                    ),
                ],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(service, service),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
                "minReplicas": REPLICAS[service],
                "maxReplicas": MAX_REPLICAS[service],
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(service, service),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
        },
    ]


def rabbitmq() -> dict[str, Any]:
    """A three-node RabbitMQ cluster; the services declare quorum queues on it."""
    return {
        "apiVersion": "rabbitmq.com/v1beta1",
        "kind": "RabbitmqCluster",
        "metadata": _meta("rabbitmq", "rabbitmq"),
        "spec": {
            "replicas": 3,
            "image": "rabbitmq:3.13-management",
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
            "persistence": {"storage": "10Gi"},
            "rabbitmq": {
                "additionalConfig": "\n".join(
                    [
                        "default_queue_type = quorum",
                        "cluster_partition_handling = pause_minority",
                    ]
                )
            },
        },
    }


def mongodb() -> dict[str, Any]:
    """A three-member MongoDB replica set, one user per service (its own database only)."""
    users = [
        {
            "name": service,
            "db": "admin",
            "passwordSecretRef": {"name": f"mongo-{service}-password"},
            "roles": [{"name": "readWrite", "db": service}],
            "scramCredentialsSecretName": f"mongo-{service}-scram",
        }
        for service in PORTS
    ]
    return {
        "apiVersion": "mongodbcommunity.mongodb.com/v1",
        "kind": "MongoDBCommunity",
        "metadata": _meta("mongodb", "mongodb"),
        "spec": {
            "members": 3,
            "type": "ReplicaSet",
            "version": "7.0.14",
            "security": {"authentication": {"modes": ["SCRAM"]}},
            "users": users,
            "additionalMongodConfig": {"storage.wiredTiger.engineConfig.journalCompressor": "zstd"},
        },
    }


def namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": dict(LABELS)},
    }


def kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [
            "namespace.yaml",
            "rabbitmq.yaml",
            "mongodb.yaml",
            *[f"{service}.yaml" for service in (*PORTS, *FRONTEND_PORTS)],
        ],
        # district.yaml here is rendered from deploy/district.yaml (a test checks they match)
        "configMapGenerator": [{"name": DISTRICT_CONFIG_MAP, "files": ["district.yaml"]}],
    }


def documents() -> dict[str, list[dict[str, Any]]]:
    """File name -> the resources it holds."""
    files: dict[str, list[dict[str, Any]]] = {
        "namespace.yaml": [namespace()],
        "rabbitmq.yaml": [rabbitmq()],
        "mongodb.yaml": [mongodb()],
    }
    for service in (*PORTS, *FRONTEND_PORTS):
        files[f"{service}.yaml"] = service_resources(service)
    files["kustomization.yaml"] = [kustomization()]
    return files


HEADER = "# Generated by `python -m devtools.render_k8s`; edit the generator, not this file.\n"


def secrets_example() -> dict[str, Any]:
    """What an operator must provide (not applied by the kustomization)."""
    data = {
        "jwt-issuer": "https://login.district.org/",
        "jwt-audience": "bureau",
        "jwt-jwks-url": "https://login.district.org/.well-known/jwks.json",
        "contact-hash-key": "<random 32 bytes, base64>",
        "access-token-key": "<random 32 bytes, base64>",
        "student-data-keys": '{"k1": "<random 32 bytes, base64>"}',
        "student-data-key-id": "k1",
        "student-hash-key": "<random 32 bytes, base64>",
        "survey-token-key": "<random 32 bytes, base64>",
        "smtp-host": "smtp.district.org",
        "smtp-port": "587",
        "smtp-username": "bureau",
        "smtp-password": "<password>",
    }
    for frontend in FRONTEND_PORTS:
        data[f"{frontend}-client-token"] = "<a token with the frontend role, from the IdP>"
    data["web-form-secret"] = "<random 32 bytes, base64>"
    data["twilio-auth-token"] = "<the Twilio account's auth token>"
    for service in PORTS:
        data[f"amqp-url-{service}"] = f"amqp://{service}:<password>@rabbitmq.{NAMESPACE}.svc:5672/"
        data[f"mongo-url-{service}"] = (
            f"mongodb://{service}:<password>@mongodb-svc.{NAMESPACE}.svc:27017/{service}"
            "?replicaSet=mongodb&authSource=admin"
        )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "stringData": data,
    }


def render() -> dict[str, str]:
    """File name -> YAML text, including the copy of the district configuration."""
    texts = {
        name: HEADER + yaml.safe_dump_all(docs, sort_keys=False, width=100)
        for name, docs in documents().items()
    }
    texts["secrets.example.yaml"] = (
        HEADER
        + "# Fill in and apply yourself (kubectl apply -f); never commit real values.\n"
        + yaml.safe_dump(secrets_example(), sort_keys=False, width=100)
    )
    texts["district.yaml"] = (ROOT / "deploy" / "district.yaml").read_text()
    return texts


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
    print(f"wrote {len(render())} files to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
