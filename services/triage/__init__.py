"""Triage: decides which team owns each concern, and its priority."""
