"""Intake: takes concerns from frontends, owns their record and lifecycle."""
