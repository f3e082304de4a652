"""The alert rules and the dashboard watch metrics the services really expose."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import frontends.email.mailbox  # noqa: F401 (registers the email front door's metrics)
import shared.metrics  # registers the bureau's metrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
PRODUCTION = ("services", "shared", "frontends")
METRIC = re.compile(r"\b(bureau_[a-z_]+)")


SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "summary": ("_count", "_sum"),
}


def exposed() -> set[str]:
    """Every series name the process registry can expose (labelled ones included)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def expressions() -> list[str]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    found = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    found += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return found


def test_every_metric_an_alert_or_panel_uses_is_exposed() -> None:
    names = exposed()
    used = {m for expr in expressions() for m in METRIC.findall(expr)}
    assert used, "no bureau metric referenced at all"
    missing = sorted(m for m in used if m not in names)
    assert not missing, f"referenced but never exposed: {missing}"


def series_of(metric: MetricWrapperBase) -> set[str]:
    return {
        family.name + suffix
        for family in metric.describe()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def updated_in_production(variable: str) -> bool:
    """Whether code that runs in the bureau sets, counts or observes `variable`."""
    update = re.compile(rf"\b{variable}\s*\.\s*(labels|set|inc|dec|observe|set_function)\(")
    return any(
        update.search(path.read_text(encoding="utf-8"))
        for folder in PRODUCTION
        for path in (ROOT / folder).rglob("*.py")
    )


def test_every_metric_an_alert_or_panel_uses_is_set_somewhere() -> None:
    used = {m for expr in expressions() for m in METRIC.findall(expr)}
    variables = {
        name: series_of(value)
        for name, value in vars(shared.metrics).items()
        if isinstance(value, MetricWrapperBase)
    }
    behind = {name for name, series in variables.items() if series & used}

    assert behind, "no metric of shared.metrics behind the alerts and panels"
    never_set = sorted(name for name in behind if not updated_in_production(name))
    assert not never_set, f"on a panel or in an alert but never set: {never_set}"


def test_every_alert_has_a_duration_severity_and_explanation() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    for rule in (r for group in rules["groups"] for r in group["rules"]):
        assert rule["for"] and rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
