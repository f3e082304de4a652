"""Screenshots of the family web for the README: `python -m devtools.screenshots`.

Starts a throwaway bureau (its own store and SMTP sink, the four services and the web
frontend), walks a concern from the start page to the survey in English and Spanish with a
headless Debian Chromium, and writes `docs/screenshots/<page>-<lang>.png`. Needs RabbitMQ
(`AMQP_URL`, default the local one) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from devtools.bureau import LocalBureau
from devtools.launcher import REPO_ROOT, SERVICES, free_port
from shared.auth import DEVELOPMENT_SIGNING_KEY, mint_token
from shared.settings import DEFAULT_DISTRICT_CONFIG

CHROMIUM = "/usr/bin/chromium"
# Headless, no sandbox (containers), and nothing that reaches out to the internet.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
OUT = REPO_ROOT / "docs" / "screenshots"
# The pages shown in the README, by language (the whole walk is taken in both).
KEPT = {
    "en": {"start", "form-errors", "check", "confirmation", "status-resolved", "survey"},
    "es": {"start", "form", "confirmation", "status", "status-resolved", "survey", "lookup"},
}
SURVEY_LINK = re.compile(r"https?://\S+/survey/[A-Za-z0-9_-]+")


def web_district(path: Path, base_url: str) -> Path:
    """The example district whose mails link to the web frontend at `base_url`."""
    config = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    config.setdefault("notify", {})
    config["notify"]["status_url"] = f"{base_url}/status/{{tracking}}"
    config["notify"]["survey_base_url"] = f"{base_url}/survey"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def dev_headers(subject: str = "sd-lead", role: str = "specialist") -> dict[str, str]:
    """A bearer header signed with the development key (as the dev bureau's services accept)."""
    token = mint_token(
        subject=subject,
        roles=[role],
        signing_key=DEVELOPMENT_SIGNING_KEY,
        issuer="bureau-dev",
        audience="bureau",
    )
    return {"Authorization": f"Bearer {token}"}


def resolve(intake_url: str, tracking: str, *, reply: str, summary: str) -> None:
    """A specialist answers and resolves a concern through intake's staff API."""
    with httpx.Client(base_url=intake_url, headers=dev_headers(), timeout=10) as http:
        found = http.get("/v1/concerns", params={"q": tracking}).json()["items"]
        concern_id = next(c["id"] for c in found if c["tracking_number"] == tracking)
        http.post(f"/v1/concerns/{concern_id}/replies", json={"message": reply}).raise_for_status()
        http.post(
            f"/v1/concerns/{concern_id}/resolve", json={"summary": summary}
        ).raise_for_status()


@contextmanager
def bureau_with_web(
    prefix: str = "bureau-web-", env: dict[str, str] | None = None, *, queues: str = "web"
) -> Iterator[tuple[LocalBureau, str]]:
    """A throwaway bureau (own store and SMTP sink, the four services, the web frontend) whose
    mails link to the web; yields it and the web's address. Its queues and exchanges are named
    `<queues>.<random tag>.…`; `env` adds to or overrides the services' environment. Needs
    RabbitMQ at AMQP_URL."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        tag = uuid.uuid4().hex[:8]
        bureau = LocalBureau(
            workdir=work,
            env={
                "DISTRICT_CONFIG": str(web_district(work / "district.yaml", base)),
                "PUBLIC_BASE_URL": base,
                "QUEUE_PREFIX": f"{queues}.{tag}.",
                "EVENTS_EXCHANGE": f"{queues}.{tag}.events",
                "PRIVATE_EXCHANGE": f"{queues}.{tag}.private",
                "OUTBOX_POLL_S": "0.2",
                "DISPATCH_TICK_S": "0.2",
                **(env or {}),
            },
        )
        bureau.ports["web"] = port
        try:
            bureau.start_store()
            bureau.start_smtp()
            bureau.start_services(SERVICES)
            bureau.start_frontends(("web",))
            yield bureau, base
        finally:
            bureau.stop()


def main() -> int:  # pragma: no cover - a developer tool, run by hand
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with bureau_with_web("bureau-shots-") as (bureau, base), sync_playwright() as driver:
        assert bureau.smtp is not None
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        for lang in ("en", "es"):
            page = browser.new_page(viewport={"width": 1024, "height": 800})
            take_all(page, base, lang, args.out, bureau.url("intake"), bureau.smtp)
            page.close()
        mobile = browser.new_page(viewport={"width": 320, "height": 640})
        mobile.goto(f"{base}/concern/new?lang=es")
        mobile.screenshot(path=str(args.out / "form-320px-es.png"), full_page=True)
        browser.close()
    print(f"screenshots in {args.out}")
    return 0


def take_all(
    page: object, base: str, lang: str, out: Path, intake_url: str, smtp: object
) -> None:  # pragma: no cover
    from playwright.sync_api import Page

    from devtools.smtp_sink import SmtpSink

    assert isinstance(page, Page) and isinstance(smtp, SmtpSink)

    def shot(name: str) -> None:
        if name in KEPT[lang]:
            page.screenshot(path=str(out / f"{name}-{lang}.png"), full_page=True)

    page.goto(f"{base}/?lang={lang}")
    shot("start")
    page.goto(f"{base}/concern/new")
    page.click("form button[type=submit]")
    shot("form-errors")
    page.check("#category-transportation")
    page.select_option("#school_id", "lincoln-es")
    page.fill(
        "#description",
        "The school bus skipped our stop three mornings this week."
        if lang == "en"
        else "El autobús escolar no pasó por nuestra parada tres mañanas esta semana.",
    )
    page.check("#contact-email")
    page.fill("#name", "Maria Gonzalez")
    email = f"maria.{lang}@example.org"
    page.fill("#email", email)
    page.fill("#student_name", "Lucia Gonzalez")
    page.select_option("#grade", "4")
    shot("form")
    page.click("form button[type=submit]")
    shot("check")
    page.click("form[action='/concern/send'] button")
    shot("confirmation")
    tracking = page.inner_text(".reference").strip()
    page.click("a.status-link")
    page.fill(
        "#message",
        "It happened again this morning." if lang == "en" else "Volvió a pasar esta mañana.",
    )
    page.click("form[action$='/message'] button")
    shot("status")
    resolve(  # a specialist writes in the family's language
        intake_url,
        tracking,
        reply="We spoke with the driver; the stop is back on the route."
        if lang == "en"
        else "Hablamos con el conductor; la parada vuelve a estar en la ruta.",
        summary="The route sheet had dropped your stop. It is restored from Monday, "
        "and the driver confirmed it."
        if lang == "en"
        else "La hoja de ruta había omitido su parada. Se restableció desde el lunes "
        "y el conductor lo confirmó.",
    )
    page.reload()
    shot("status-resolved")
    mails = smtp.wait_for(
        lambda m: email in m.recipients and SURVEY_LINK.search(m.text), timeout_s=30
    )
    found = SURVEY_LINK.search(mails[0].text)
    assert found is not None
    page.goto(found.group(0))
    shot("survey")
    page.goto(f"{base}/status")
    shot("lookup")


if __name__ == "__main__":
    sys.exit(main())
