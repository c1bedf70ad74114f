"""Time, injected. Nothing below the edges of the program calls ``datetime.now()``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# The company's calendar, unless GATEWAY_TIMEZONE says otherwise (the Runtime's clock carries
# the configured zone): the day an NDA ends, a designation starts, a request falls due.
COMPANY_ZONE = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and replays."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


class ZonedClock:
    """A clock that knows the company's time zone: business days are counted in it, instants
    stay UTC."""

    def __init__(self, clock: Clock, zone: ZoneInfo) -> None:
        self.clock, self.zone = clock, zone

    def now(self) -> datetime:
        return self.clock.now()


def today(clock: Clock) -> date:
    """The company's calendar day (the clock's zone; Asia/Tokyo by default): the day an NDA or
    a designation is judged on. An NDA ending on 31 March ends at midnight in Tokyo, not at
    09:00 the next morning."""
    return clock.now().astimezone(getattr(clock, "zone", COMPANY_ZONE)).date()


def isoformat(at: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds: sorts as text and hashes the same everywhere."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
