"""How heavy and how fast the family pages are: `python -m bench.web_pages [--requests N]`.

Starts a throwaway bureau with the web frontend (needs RabbitMQ at AMQP_URL), follows one
concern to its survey, then with the bureau idle requests each family page N times, one at a
time, and prints per page: p50 and p95 time to the full answer (the server's render including
its calls to intake or notify, over loopback), the page's compressed (gzip) size, and what a
first visit transfers (page + CSS + JS + icon, compressed). Targets (issue 17): p95 < 100 ms,
< 60 KB transferred.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time

import httpx

from devtools.launcher import REPO_ROOT
from devtools.screenshots import SURVEY_LINK, bureau_with_web, resolve

ASSETS = ("/static/site.css", "/static/site.js", "/static/favicon.svg")
RESULTS = REPO_ROOT / "bench" / "results"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def hidden(html: str, action: str) -> dict[str, str]:
    form = html[html.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def transferred(http: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[float, int]:
    """Seconds to the whole answer, and the bytes on the wire (compressed)."""
    started = time.perf_counter()
    with http.stream(method, path, **kwargs) as response:  # type: ignore[arg-type]
        size = sum(len(chunk) for chunk in response.iter_raw())
    elapsed = time.perf_counter() - started
    assert response.status_code < 400, (path, response.status_code)
    return elapsed, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="per page")
    args = parser.parse_args()
    # one client asks for the status page many times: lift intake's per-family lookup limit
    lifted = {"TRACKING_LOOKUPS_PER_MINUTE": "1000000"}
    with bureau_with_web("bureau-bench-web-", env=lifted) as (bureau, base):
        assert bureau.smtp is not None
        headers = {"Accept-Encoding": "gzip", "Accept-Language": "es"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            form = http.get("/concern/new").text
            answers = {
                "csrf_token": csrf(form),
                **hidden(form, "/concern/check"),
                "category": "transportation",
                "school_id": "lincoln-es",
                "description": "El autobús no pasó por nuestra parada esta semana.",
                "contact": "email",
                "email": "bench@example.org",
                "language": "es",
            }
            check = http.post("/concern/check", data=answers).text
            http.post("/concern/send", data=hidden(check, "/concern/send"))
            tracking = re.search(r"CS-\d{4}-\d{6}", http.get("/concern/sent").text)
            assert tracking, "no tracking number on the confirmation"
            resolve(
                bureau.url("intake"), tracking.group(0), reply="Respuesta.", summary="Resuelto."
            )
            mail = bureau.smtp.wait_for(lambda m: SURVEY_LINK.search(m.text) is not None)[0]
            survey = SURVEY_LINK.search(mail.text)
            assert survey
            pages: dict[str, tuple[str, str, dict[str, object]]] = {
                "start": ("GET", "/", {}),
                "form": ("GET", "/concern/new", {}),
                "check": ("POST", "/concern/check", {"data": answers}),
                "confirmation": ("GET", "/concern/sent", {}),
                "lookup": ("GET", "/status", {}),
                "status": ("GET", f"/status/{tracking.group(0)}", {}),
                "survey": ("GET", survey.group(0).removeprefix(base), {}),
            }
            assets = sum(transferred(http, "GET", path)[1] for path in ASSETS)
            rows: list[dict[str, float]] = []
            names: list[str] = []
            for name, (method, path, kwargs) in pages.items():
                transferred(http, method, path, **kwargs)  # warm
                times, size = [], 0
                for _ in range(args.requests):
                    elapsed, size = transferred(http, method, path, **kwargs)
                    times.append(elapsed * 1000)
                times.sort()
                names.append(name)
                rows.append(
                    {
                        "p50_ms": statistics.median(times),
                        "p95_ms": times[int(len(times) * 0.95) - 1],
                        "gzip_bytes": size,
                        "first_visit_bytes": size + assets,
                    }
                )
    print(f"{'page':<14}{'p50 ms':>9}{'p95 ms':>9}{'page gzip':>11}{'first visit':>13}")
    for name, row in zip(names, rows, strict=True):
        print(
            f"{name:<14}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
            f"{row['gzip_bytes'] / 1024:>9.1f}KB{row['first_visit_bytes'] / 1024:>11.1f}KB"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "web_pages.json"
    out.write_text(
        json.dumps(
            {"requests_per_page": args.requests, "pages": dict(zip(names, rows, strict=True))},
            indent=2,
        )
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
