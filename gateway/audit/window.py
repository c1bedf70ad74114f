"""Time windows of the privacy desk's commands, defined once.

``--since`` and ``--until`` take a date (``YYYY-MM-DD``, a UTC calendar day, as everywhere in
the gateway) or an ISO 8601 date-time with its offset (``2026-04-01T10:00:00+09:00``). Both ends
are inclusive: ``--since 2026-04-01`` starts at 2026-04-01T00:00:00.000000Z, ``--until
2026-04-30`` takes in the whole of that day (up to 2026-04-30T23:59:59.999999Z), and a
date-time takes in that very microsecond. Internally a window is ``[start, end)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from gateway.clock import isoformat
from gateway.errors import InvalidInput

_MICROSECOND = timedelta(microseconds=1)


def parse_bound(text: str, *, until: bool, zone: tzinfo = UTC) -> datetime:
    """The instant a ``--since`` (``until=False``) or ``--until`` value stands for, as the
    start (inclusive) or end (exclusive) of a ``[start, end)`` window; a date is a calendar
    day in ``zone`` (UTC unless the caller works in the company's calendar)."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime.combine(day + timedelta(days=1) if until else day, time(), tzinfo=zone)
            return start.astimezone(UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{value!r} needs a UTC offset, e.g. Z or +09:00")
    moment = moment.astimezone(UTC)
    return moment + _MICROSECOND if until else moment


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime  # exclusive

    @classmethod
    def parse(cls, since: str, until: str, zone: tzinfo = UTC) -> Window:
        window = cls(parse_bound(since, until=False, zone=zone),
                     parse_bound(until, until=True, zone=zone))  # fmt: skip
        if window.end <= window.start:
            raise InvalidInput("--until is before --since")
        return window

    @property
    def start_at(self) -> str:
        return isoformat(self.start)

    @property
    def end_at(self) -> str:
        return isoformat(self.end)

    @property
    def last_at(self) -> str:
        """The last instant inside the window, as shown to people."""
        return isoformat(self.end - _MICROSECOND)
