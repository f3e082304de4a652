"""`/docs` as a developer without internet uses it: every script and style served by the
service itself, and a bearer scheme in the OpenAPI document so that a pasted token reaches
the staff routes (and only them)."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.test_intake_api import clock, intake  # noqa: F401

pytestmark = pytest.mark.integration

ASSET = re.compile(r"""(?:src|href)=["']?([^"' >]+)|url: ?['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_the_service_itself(
    intake: httpx.AsyncClient, page: str
) -> None:
    answer = await intake.get(page)
    assert answer.status_code == 200
    urls = {a or b for a, b in ASSET.findall(answer.text)}
    assert urls, answer.text
    assert not [u for u in urls if "//" in u], "nothing from another host"
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts
    for url in urls:
        asset = await intake.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
            assert len(asset.content) > 100_000  # the bundle itself, not a stub
        elif url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css")


async def test_openapi_declares_a_bearer_scheme_on_staff_routes_only(
    intake: httpx.AsyncClient,
) -> None:
    document = (await intake.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    paths = document["paths"]
    assert paths["/v1/concerns"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in paths["/open311/v2/services.{fmt}"]["get"]
    assert "security" not in paths["/healthz"]["get"]


async def test_a_pasted_token_is_what_opens_a_staff_route(intake: httpx.AsyncClient) -> None:
    # Swagger UI sends the pasted token as `Authorization: Bearer ...`, as this client does
    assert (await intake.get("/v1/concerns")).status_code == 200
    anonymous = await intake.get("/v1/concerns", headers={"Authorization": ""})
    assert anonymous.status_code == 401
