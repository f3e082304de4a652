"""What a front door's log says of its calls to the services: never the address of the call,
which carries a family's survey token (`/v1/surveys/{token}`) or the name of a file it chose
(`?filename=`). httpx writes each request's full address at INFO, which every process logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from frontends.web.client import IntakeClient, NotifyClient
from shared.logs import configure_logging

pytestmark = pytest.mark.unit

SURVEY_TOKEN = "sv_9f2c1d7e4b8a6f30"
FILE_NAME = "Informe IEP de Mateo.pdf"
FORM_KEY = "ab" * 20


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.startswith("/v1/surveys/"):
        return httpx.Response(
            200, json={"language": "es", "status": "open", "expires_at": "2027-01-01T00:00:00Z"}
        )
    return httpx.Response(
        201,
        json={"id": "f1", "filename": FILE_NAME, "content_type": "application/pdf", "size": 9},
    )


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the process's log handler writes, as the web's process configures it at start."""
    root = logging.getLogger()
    before = (root.handlers[:], root.level, logging.getLogger("httpx").level)
    configure_logging("web-frontend")
    written = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    yield written
    root.handlers[:], root.level = before[0], before[1]
    logging.getLogger("httpx").setLevel(before[2])


async def test_a_front_doors_calls_log_neither_a_survey_token_nor_a_file_name(
    logged: io.StringIO,
) -> None:
    transport = httpx.MockTransport(answer)
    notify = NotifyClient("http://notify", lambda: "jwt", transport=transport)
    intake = IntakeClient("http://intake", lambda: "jwt", transport=transport)
    try:
        await notify.survey(SURVEY_TOKEN)
        await intake.pend_file(FORM_KEY, FILE_NAME, "application/pdf", b"%PDF-1.4\n")
    finally:
        await notify.aclose()
        await intake.aclose()
    logging.getLogger("frontends.web").info("after the calls")  # the log is written at all
    err = logged.getvalue()
    assert "after the calls" in err
    assert SURVEY_TOKEN not in err
    assert "IEP" not in err and "Mateo" not in err and FORM_KEY not in err
