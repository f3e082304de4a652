"""The README's who-may-do-what table is the one the code enforces."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.authz import markdown

pytestmark = pytest.mark.unit


def test_readme_carries_the_permission_table_the_code_enforces() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown().strip() in readme, (
        "README's table differs from shared/authz.py: paste `python -c 'from shared.authz "
        "import markdown; print(markdown())'` into the README"
    )
