"""Escalation: one SLA clock per concern; breaches and the escalation ladder."""
