"""The holidays each business-hours calendar names in the coming year, as a gauge.

A holiday list written for one year and never extended lets every holiday count as a working
day from the next January, silently; `bureau config check` warns at deploy time, and this gauge
(read at each scrape, with the service's clock) lets an alert fire while the bureau runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from services.escalation.config import CalendarConfig
from shared.clock import Clock
from shared.holidays import dates
from shared.metrics import CALENDAR_HOLIDAYS_AHEAD

AHEAD = timedelta(days=365)  # the 12 months `bureau config check` looks at


def holidays_ahead(calendars: Iterable[CalendarConfig], today: date) -> dict[str, int]:
    """Calendar id -> how many holidays it names from `today` to 365 days later."""
    return {c.id: len(dates(c.holidays, today, today + AHEAD)) for c in calendars}


def holiday_sampler(
    calendars: Iterable[CalendarConfig], *, clock: Clock, timezone: ZoneInfo
) -> Callable[[], Awaitable[None]]:
    """A gauge sampler (for `Runtime.sample_on_scrape`) setting each calendar's count as of
    the clock's day in the district's time zone."""
    calendars = list(calendars)

    async def sample() -> None:
        today = clock.now().astimezone(timezone).date()
        for calendar_id, count in holidays_ahead(calendars, today).items():
            CALENDAR_HOLIDAYS_AHEAD.labels(calendar_id).set(count)

    return sample
