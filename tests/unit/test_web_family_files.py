"""Files a family sends with a concern or a message on the family web: checked as intake
checks them before anything is sent, kept by intake (its pending files, under a key bound to
the browser) between the form and "Send my concern", attached once the concern exists, and a
failure to attach never loses the concern. The web keeps no file itself."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.forms import (
    FILE_TOO_LARGE,
    FILE_TYPE_REFUSED,
    ChosenFile,
    Said,
    check_file,
    file_type,
)
from frontends.web.main import create_app
from frontends.web.settings import WebSettings
from services.intake.attachments import AttachmentSettings, limits_of
from tests.unit.test_web_family_status import PERSONAL_LINK
from tests.unit.test_web_pages import ANSWERS, RECEIPT, Services, form_fields, new_form

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
PDF = b"%PDF-1.7\n" + b"x" * 100
LIMITS = limits_of(AttachmentSettings(attachment_max_bytes=4096, attachments_per_concern=2))


class Intake(Services):
    """The stand-in services, with intake's limits, its pending files (kept by form key until
    sent to a concern, once) and attachments; `attachments_down` makes sending the files fail,
    `full` makes intake refuse to keep more."""

    def __init__(self) -> None:
        super().__init__()
        self.attachments_down = False
        self.refuse_answers = False
        self.full = False
        self.pending: dict[str, list[dict[str, object]]] = {}
        self.contents: dict[str, bytes] = {}
        self.sent: list[tuple[str, dict[str, object]]] = []  # (concern id, file) attached

    def forms(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        parts = request.url.path.split("/")  # /v1/forms/{key}/{action}[/{id}]
        key, action = parts[3], parts[4]
        files = self.pending.get(key, [])
        if action == "attachments" and request.method == "POST":
            if self.full:
                return httpx.Response(429, json={"title": "Too many pending files", "status": 429})
            kept: dict[str, object] = {
                "id": uuid.uuid4().hex,
                "filename": request.url.params["filename"],
                "content_type": request.headers["content-type"],
                "size": len(request.content),
            }
            self.contents[str(kept["id"])] = request.content
            self.pending.setdefault(key, []).append(kept)
            return httpx.Response(201, json=kept)
        if action == "attachments" and request.method == "GET":
            return httpx.Response(200, json=files)
        if action == "attachments" and request.method == "DELETE":
            files[:] = [f for f in files if f["id"] != parts[5]]
            return httpx.Response(204)
        if action == "move":
            to = json.loads(request.content)["to"]
            self.pending[to] = self.pending.pop(key, [])
            return httpx.Response(200, json=self.pending[to])
        if action == "send":
            if self.attachments_down:
                return httpx.Response(503, json={"title": "Unavailable", "status": 503})
            concern_id = json.loads(request.content)["concern_id"]
            self.sent += [(concern_id, f) for f in files]
            outcomes = [{**f, "attached": True, "attachment_id": f["id"]} for f in files]
            files.clear()
            return httpx.Response(200, json=outcomes)
        return httpx.Response(404, json={"title": "Not found", "status": 404})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v1/forms/"):
            return self.forms(request)
        if path == "/v1/concerns" and self.refuse_answers:
            self.requests.append(request)
            return httpx.Response(
                422,
                json={
                    "title": "Invalid",
                    "status": 422,
                    "errors": [{"field": "requester.email", "message": "not deliverable"}],
                },
            )
        if path == "/v1/attachments/limits":
            self.requests.append(request)
            return httpx.Response(200, json=LIMITS.model_dump())
        if path.endswith("/attachments"):
            self.requests.append(request)
            if self.attachments_down:
                return httpx.Response(503, json={"title": "Unavailable", "status": 503})
            return httpx.Response(
                201,
                json={
                    "id": f"a{len(self.attached())}",
                    "filename": request.url.params["filename"],
                    "content_type": request.headers["content-type"],
                    "size": len(request.content),
                    "sha256": "",
                    "uploaded_at": "2026-12-01T10:00:00Z",
                    "uploaded_by": "web-frontend",
                },
            )
        return super().__call__(request)

    def attached(self) -> list[tuple[str, dict[str, object]]]:
        """The files attached to concerns: (concern id, file) each."""
        return self.sent

    def requester_attached(self) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.url.path.startswith("/v1/tracking/") and r.url.path.endswith("/attachments")
        ]

    def pending_count(self) -> int:
        return sum(len(files) for files in self.pending.values())


@pytest.fixture
def services() -> Intake:
    return Intake()


@pytest.fixture
def browser(services: Intake) -> Iterator[TestClient]:
    settings = WebSettings()
    app = create_app(settings, transport=httpx.MockTransport(services))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def check_with(
    browser: TestClient, files: list[tuple[str, bytes, str]], **more: str
) -> httpx.Response:
    return browser.post(
        "/concern/check",
        data={**new_form(browser), **ANSWERS, **more},
        files=[("files", f) for f in files],
    )


# --- checking a file as intake will ----------------------------------------------------------


def test_a_photo_is_taken_by_its_declared_type_and_a_phone_photo_by_its_name() -> None:
    kept, why = check_with_limits("bus stop.png", "image/png", PNG)
    assert why is None and kept is not None and kept.content_type == "image/png"
    heic = b"\x00\x00\x00\x18ftypheic"
    assert file_type("IMG_0042.HEIC", "application/octet-stream", heic, LIMITS) == "image/heic"


def check_with_limits(
    name: str, declared: str, data: bytes
) -> tuple[ChosenFile | None, Said | None]:
    return check_file(name, declared, data, LIMITS, size_text="4 KB")


def test_a_program_is_refused_as_a_type_we_do_not_take_with_its_name() -> None:
    kept, why = check_with_limits("setup.exe", "application/x-msdownload", b"MZ\x90\x00")
    assert kept is None and why == (
        FILE_TYPE_REFUSED,
        {"name": "setup.exe", "size": "4 KB", "count": "0"},
    )


def test_a_file_pretending_to_be_a_pdf_is_refused() -> None:
    kept, why = check_with_limits("letter.pdf", "application/pdf", b"MZ not a pdf")
    assert kept is None and why is not None and why[0] == FILE_TYPE_REFUSED


def test_a_file_over_intakes_size_is_refused_with_the_limit_in_words() -> None:
    kept, why = check_with_limits("scan.pdf", "application/pdf", PDF + b"x" * 5000)
    assert kept is None and why is not None and why[0] == FILE_TOO_LARGE
    assert why[1]["size"] == "4 KB"


def test_a_path_in_the_name_is_dropped() -> None:
    kept, _ = check_with_limits("C:\\Users\\maria\\carta.pdf", "application/pdf", PDF)
    assert kept is not None and kept.filename == "carta.pdf"


# --- the form's files, kept by intake ---------------------------------------------------------


def test_the_web_keeps_no_file_and_intake_knows_a_form_only_by_a_key_bound_to_the_browser(
    browser: TestClient, services: Intake
) -> None:
    form = new_form(browser)
    browser.post(
        "/concern/check",
        data={**form, **ANSWERS},
        files=[("files", ("bus-stop.png", PNG, "image/png"))],
    )
    [put] = [r for r in services.requests if r.method == "POST" and "/v1/forms/" in r.url.path]
    form_key = put.url.path.split("/")[3]
    assert re.fullmatch(r"[0-9a-f]{40}", form_key)
    assert form["idempotency_key"] not in str(put.url)  # intake never learns the key
    assert services.pending == {form_key: services.pending[form_key]}
    other = TestClient(browser.app, base_url="http://127.0.0.1:8000")  # another browser
    stolen = other.post(
        "/concern/check",
        data={**new_form(other), **ANSWERS, "idempotency_key": form["idempotency_key"]},
    )
    assert "bus-stop.png" not in stolen.text


def test_a_file_intake_cannot_keep_now_is_named_and_the_family_told_to_add_it_later(
    browser: TestClient, services: Intake
) -> None:
    services.full = True
    page = check_with(browser, [("bus-stop.png", PNG, "image/png")])
    assert page.status_code == 400
    assert "We cannot keep “bus-stop.png” just now." in page.text
    assert "The bus skipped our stop three times." in page.text


# --- the concern form ------------------------------------------------------------------------


def test_the_form_states_intakes_limits_and_posts_files(browser: TestClient) -> None:
    page = browser.get("/concern/new").text
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" id="files" name="files" multiple' in page
    assert "Up to 2 files, each up to 4 KB." in page
    assert "PDF, JPEG, PNG" in page and ".png" in page


@pytest.mark.parametrize("where", ["/concern/new", PERSONAL_LINK])
def test_the_file_button_speaks_the_pages_language_not_the_browsers(
    browser: TestClient, where: str
) -> None:
    browser.get("/concern/new?lang=es")
    page = browser.get(where).text
    field = page[page.index('<input type="file"') :]
    field = field[: field.index("</div>")]
    # the input keeps its question and the button's words as its name; the button people see
    # is a label in Spanish that opens it (the browser's own would say "Choose Files")
    assert 'aria-labelledby="files-label files-choose"' in field
    assert '<label for="files" id="files-choose"' in field and ">Elegir archivos</label>" in field
    assert 'data-label="Archivos elegidos:"' in field
    assert 'id="files-label">' in page and "Agregar archivos (opcional)" in page


def test_checked_files_are_listed_and_reach_intake_only_once_the_family_sends(
    browser: TestClient, services: Intake
) -> None:
    check = check_with(
        browser, [("bus-stop.png", PNG, "image/png"), ("letter.pdf", PDF, "application/pdf")]
    )
    assert check.status_code == 200, check.text
    assert "bus-stop.png (2 KB)" in check.text and "letter.pdf (1 KB)" in check.text
    assert services.attached() == []  # nothing attached before the family confirms
    removed = re.search(r'name="remove_file" value="([0-9a-f]+)"', check.text)
    assert removed
    answers = form_fields(check.text, "/concern/send")
    again = browser.post(
        "/concern/check", data={**answers, "website": "", "remove_file": removed.group(1)}
    )
    assert "bus-stop.png" not in again.text and "letter.pdf (1 KB)" in again.text
    sent = browser.post("/concern/send", data=answers)
    assert sent.status_code == 200 and "CS-2026-000007" in sent.text
    assert "Files added to your concern:" in sent.text and "letter.pdf" in sent.text
    [(concern_id, attached)] = services.attached()
    assert concern_id == RECEIPT["id"] and attached["filename"] == "letter.pdf"
    assert attached["content_type"] == "application/pdf"
    assert services.contents[str(attached["id"])] == PDF
    assert services.pending_count() == 0


def test_a_refused_file_is_named_in_the_error_summary_in_spanish_and_the_answers_stay(
    browser: TestClient, services: Intake
) -> None:
    page = check_with(
        browser,
        [("virus.exe", b"MZ\x90\x00", "application/x-msdownload"), ("foto.png", PNG, "image/png")],
        lang="es",
    )
    assert page.status_code == 400
    summary = page.text[page.text.index('class="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert '<a href="#files">«virus.exe» es un tipo de archivo que no podemos aceptar.' in summary
    assert 'aria-invalid="true"' in page.text and "files-error" in page.text
    assert "foto.png (2 KB)" in page.text  # the good file is kept, not chosen again
    assert "The bus skipped our stop three times." in page.text
    assert services.submissions() == [] and services.attached() == []
    assert [f["filename"] for f in services.pending.popitem()[1]] == ["foto.png"]


def test_more_files_than_a_concern_takes_are_refused_before_sending(
    browser: TestClient,
) -> None:
    page = check_with(browser, [(f"p{n}.png", PNG, "image/png") for n in range(3)])
    assert page.status_code == 400
    assert "You can add up to 2 files. “p2.png” was not added: remove a file first." in page.text


def test_a_post_larger_than_a_concern_takes_is_not_read(
    browser: TestClient, services: Intake
) -> None:
    page = check_with(
        browser, [("huge.pdf", PDF + b"x" * (1024 * 1024 + 10_000), "application/pdf")]
    )
    assert page.status_code == 413 and "Traceback" not in page.text
    assert services.submissions() == [] and services.pending_count() == 0


def test_a_file_intake_cannot_take_now_keeps_the_concern_and_sending_again_adds_it(
    browser: TestClient, services: Intake
) -> None:
    check = check_with(browser, [("bus-stop.png", PNG, "image/png")])
    answers = form_fields(check.text, "/concern/send")
    services.attachments_down = True
    sent = browser.post("/concern/send", data=answers)
    assert sent.status_code == 200 and "CS-2026-000007" in sent.text  # the concern is kept
    assert "We could not add some of your files just now." in sent.text
    services.attachments_down = False
    again = browser.post("/concern/send", data=answers)  # back, and send again
    assert "We could not add some of your files" not in again.text
    assert {r.headers["Idempotency-Key"] for r in services.submissions()} == {
        answers["idempotency_key"]
    }  # one concern
    assert [f["filename"] for _, f in services.attached()] == ["bus-stop.png"]


def test_files_stay_with_the_answers_when_intake_refuses_an_answer(
    browser: TestClient, services: Intake
) -> None:
    check = check_with(browser, [("bus-stop.png", PNG, "image/png")])
    answers = form_fields(check.text, "/concern/send")
    services.refuse_answers = True
    page = browser.post("/concern/send", data=answers)
    assert page.status_code == 400 and "bus-stop.png (2 KB)" in page.text
    fresh = form_fields(page.text, "/concern/check")["idempotency_key"]
    assert fresh != answers["idempotency_key"]
    services.refuse_answers = False
    again = browser.post(
        "/concern/check", data={**form_fields(page.text, "/concern/check"), **ANSWERS}
    )
    assert "bus-stop.png (2 KB)" in again.text and services.attached() == []


# --- a message on the status page ------------------------------------------------------------


def test_a_message_takes_files_sent_after_it_with_the_familys_secret(
    browser: TestClient, services: Intake
) -> None:
    status = browser.get(PERSONAL_LINK)
    assert 'enctype="multipart/form-data"' in status.text
    csrf = form_fields(status.text, f"/status/{RECEIPT['tracking_number']}/message")
    sent = browser.post(
        f"/status/{RECEIPT['tracking_number']}/message",
        data={**csrf, "message": "Here is the photo of the stop."},
        files=[("files", ("stop.png", PNG, "image/png"))],
        follow_redirects=False,
    )
    assert sent.status_code == 303
    paths = [r.url.path for r in services.requests if r.method == "POST"]
    tracking = f"/v1/tracking/{RECEIPT['tracking_number']}"
    assert paths[-2:] == [f"{tracking}/messages", f"{tracking}/attachments"]
    [attached] = services.requester_attached()
    assert attached.headers["X-Access-Token"] == RECEIPT["access_token"]
    assert services.pending == {}  # a message's files go straight to the concern


def test_a_refused_file_keeps_the_message_unsent_and_says_why(
    browser: TestClient, services: Intake
) -> None:
    status = browser.get(PERSONAL_LINK)
    csrf = form_fields(status.text, f"/status/{RECEIPT['tracking_number']}/message")
    page = browser.post(
        f"/status/{RECEIPT['tracking_number']}/message",
        data={**csrf, "message": "Here is the file."},
        files=[("files", ("big.pdf", PDF + b"x" * 5000, "application/pdf"))],
    )
    assert page.status_code == 400
    assert "“big.pdf” is larger than 4 KB. Choose a smaller file." in page.text
    assert "Here is the file." in page.text
    assert not any(r.url.path.endswith("/messages") for r in services.requests)
