"""A family attaches files on the family web in a real Chromium against the real services: a
photo of the bus stop with the concern, in Spanish, listed on check-your-answers and kept by
intake once sent, where staff find it; a program is refused in the error summary before
anything is sent; a letter goes with a message on the status page. axe finds nothing."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from devtools.bureau import LocalBureau
from tests.browser.test_family_flow import Pages
from tests.conftest import bearer

pytestmark = pytest.mark.browser

STAFF = bearer("specialist", sub="sd-lead")


def png() -> bytes:
    """A 2x2 grey PNG, as a phone would send a (much larger) photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def fill_concern(page: Page) -> None:
    await page.check("#category-transportation")
    await page.fill("#description", "El autobús no pasó por la parada de la foto esta semana.")
    await page.check("#contact-none")


def staff_files(intake: str, tracking: str) -> list[dict[str, object]]:
    with httpx.Client(base_url=intake, headers=STAFF, timeout=10) as http:
        items = http.get("/v1/concerns", params={"q": tracking}).json()["items"]
        concern_id = next(c["id"] for c in items if c["tracking_number"] == tracking)
        files: list[dict[str, object]] = http.get(f"/v1/concerns/{concern_id}/attachments").json()
        for found in files:
            found["content"] = http.get(
                f"/v1/concerns/{concern_id}/attachments/{found['id']}"
            ).content
        return files


async def test_a_family_in_spanish_sends_a_photo_that_staff_then_find(
    bureau: LocalBureau, browser: Browser, artifacts: Path, tmp_path: Path
) -> None:
    web = bureau.url("web")
    photo = tmp_path / "parada del autobús.png"
    photo.write_bytes(png())
    program = tmp_path / "programa.exe"
    program.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00")
    letter = tmp_path / "carta.pdf"
    letter.write_bytes(b"%PDF-1.4\n% a letter from the school\n%%EOF\n")
    context = await browser.new_context(locale="es-US", viewport={"width": 1024, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)

    # A program is refused before anything is sent: the summary names it and links to the field.
    await page.goto(f"{web}/concern/new?lang=es")
    await expect(page.locator("#files-hint")).to_contain_text("cada uno de hasta 10 MB")
    await expect(page.locator("#files-hint")).to_contain_text("PDF, JPEG, PNG")
    await fill_concern(page)
    await page.set_input_files("#files", [str(program)])
    await page.click("#concern-form button[type=submit]")
    summary = page.locator(".error-summary a[href='#files']")
    await expect(summary).to_contain_text("«programa.exe» es un tipo de archivo que no podemos")
    await expect(page.locator("#files")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#description")).to_have_value(
        "El autobús no pasó por la parada de la foto esta semana."
    )
    await pages.check("form-file-refused")

    # The photo instead, chosen with the field's button, which speaks Spanish (the browser's
    # own says "Choose Files" in its language); the field stays named and opens with the
    # keyboard too; the chosen file is named under the button.
    picker = page.get_by_label("Agregar archivos (opcional)")
    await expect(picker).to_have_attribute("type", "file")
    await picker.focus()
    await expect(picker).to_be_focused()
    async with page.expect_file_chooser() as by_keyboard:
        await picker.press("Space")  # on the field itself, wherever a script put the focus
    await (await by_keyboard.value).set_files([])
    async with page.expect_file_chooser() as chooser:
        await page.get_by_text("Elegir archivos", exact=True).click()
    await (await chooser.value).set_files([str(photo)])
    await expect(page.locator("#files-chosen")).to_have_text(
        "Archivos elegidos: parada del autobús.png"
    )
    await pages.check("form-file-chosen")
    # Listed on check-your-answers with its size, not sent yet.
    await page.click("#concern-form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("Revise sus respuestas")
    files_row = page.locator(".summary-list .file-list")
    await expect(files_row).to_contain_text("parada del autobús.png (1 KB)")
    await pages.check("check-with-file")

    await page.click("form[action='/concern/send'] button")
    tracking = (await page.locator(".reference").inner_text()).strip()
    await expect(page.locator("main")).to_contain_text("Archivos agregados a su inquietud:")
    await expect(page.locator("main .file-list")).to_contain_text("parada del autobús.png")
    await pages.check("confirmation-with-file")

    # Staff find the photo, as it was sent.
    [stored] = staff_files(bureau.url("intake"), tracking)
    assert stored["filename"] == "parada del autobús.png"
    assert stored["content_type"] == "image/png" and stored["content"] == png()

    # A letter with a message on the status page (the personal link opened it).
    await page.click("a.status-link")
    await page.fill("#message", "Aquí está la carta de la escuela.")
    await page.set_input_files("#files", [str(letter)])
    await page.click("form[action$='/message'] button")
    await expect(page.locator(".notice")).to_contain_text("Su mensaje fue enviado")
    await pages.check("status-after-file")
    names = {f["filename"]: f for f in staff_files(bureau.url("intake"), tracking)}
    assert set(names) == {"parada del autobús.png", "carta.pdf"}
    assert names["carta.pdf"]["content_type"] == "application/pdf"
    await context.close()
