"""Notify: tells requesters what happens to their concern, and records every delivery."""
