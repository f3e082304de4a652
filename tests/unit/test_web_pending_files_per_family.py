"""The web tells intake whose files it keeps: each file a family chooses carries the family's
address, so intake's allowance per address counts that family and not the web itself (which
would make every family share one allowance)."""

# ruff: noqa: F811  (fixtures imported from test_web_family_files are parameters here)

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from shared.ratelimit import FORWARDED_FOR_HEADER
from tests.unit.test_web_family_files import (  # noqa: F401
    PDF,
    Intake,
    browser,
    check_with,
    services,
)

pytestmark = pytest.mark.unit


def test_each_kept_file_is_counted_against_the_familys_address(
    browser: TestClient, services: Intake
) -> None:
    check = check_with(browser, [("letter.pdf", PDF, "application/pdf")])
    assert check.status_code == 200, check.text
    kept = [
        r
        for r in services.requests
        if r.method == "POST"
        and r.url.path.startswith("/v1/forms/")
        and r.url.path.endswith("/attachments")
    ]
    assert len(kept) == 1
    assert kept[0].headers[FORWARDED_FOR_HEADER] == "testclient"  # the browser's address
