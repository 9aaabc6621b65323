"""Dates: ISO (YYYY-MM-DD) on the wire, dd/mm/aaaa on screen.

"Today" is always computed from a given instant in the chain's time zone, so
no logic here reads the wall clock by itself.
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

from models.errors import ValidationError

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # matched whole
_BR_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")  # matched whole
MAX_BACKDATE_DAYS = 366


NOT_A_CALENDAR_DATE = "is not a real calendar date"  # the reason when the form is right but the day does not exist


def parse_iso_date(value: object, field: str) -> dt.date:
    """A real calendar date from "YYYY-MM-DD"; "2026-02-30" is rejected."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValidationError(field, "must be a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, NOT_A_CALENDAR_DATE) from None


def parse_br_date(text: str, field: str = "date") -> dt.date:
    """A real calendar date from what a person types as dd/mm/aaaa."""
    match = _BR_DATE.fullmatch(text.strip())
    if not match:
        raise ValidationError(field, "must be a date as dd/mm/aaaa")
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValidationError(field, NOT_A_CALENDAR_DATE) from None


def format_br_date(day: dt.date) -> str:
    """26/11/2026 from date(2026, 11, 26)."""
    return day.strftime("%d/%m/%Y")


def today_in(zone: ZoneInfo, now: dt.datetime) -> dt.date:
    """The calendar date at instant `now` (aware) in the chain's time zone."""
    return now.astimezone(zone).date()


def check_range(start: dt.date | None, end: dt.date | None) -> None:
    """Raise when an inclusive range starts after it ends."""
    if start is not None and end is not None and start > end:
        raise ValidationError("from", "must not be after 'to'")


def check_sale_date(sold_on: dt.date, today: dt.date) -> dt.date:
    """A sale may be dated today or up to MAX_BACKDATE_DAYS back, never in the future."""
    if sold_on > today:
        raise ValidationError("sold_on", "must not be in the future")
    if (today - sold_on).days > MAX_BACKDATE_DAYS:
        raise ValidationError("sold_on", f"must not be more than {MAX_BACKDATE_DAYS} days back")
    return sold_on
