"""Splitting a date range into whole months and leftover days (pure).

A range [start, end] (either end open) is covered exactly, with no overlap, by
the days before its first whole month, the whole months, and the days after
its last whole month. Reports read the monthly aggregates for the months and
the daily ones for the leftover days, so a year costs ~12 rows per key, not 366.
"""

import datetime as dt
from dataclasses import dataclass

OPEN_START_DAY, OPEN_END_DAY = "0000-01-01", "9999-12-31"
OPEN_START_MONTH, OPEN_END_MONTH = "0000-01", "9999-12"


@dataclass(frozen=True)
class Split:
    day_ranges: tuple[tuple[str, str], ...]  # inclusive ISO day bounds
    month_range: tuple[str, str] | None      # inclusive YYYY-MM bounds


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def split_range(start: dt.date | None, end: dt.date | None) -> Split:
    """Leftover day ranges and the whole-month range that together cover [start, end] exactly."""
    first_whole = None if start is None else (start if start.day == 1 else _first_of_next_month(start))
    last_whole = None if end is None else (end if _first_of_next_month(end) - dt.timedelta(days=1) == end
                                           else end.replace(day=1) - dt.timedelta(days=1))
    if first_whole is not None and last_whole is not None and first_whole > last_whole:
        return Split(((start.isoformat(), end.isoformat()),), None)
    days = []
    if start is not None and start < first_whole:
        days.append((start.isoformat(), (first_whole - dt.timedelta(days=1)).isoformat()))
    if end is not None and last_whole < end:
        days.append(((last_whole + dt.timedelta(days=1)).isoformat(), end.isoformat()))
    months = (first_whole.isoformat()[:7] if first_whole else OPEN_START_MONTH,
              last_whole.isoformat()[:7] if last_whole else OPEN_END_MONTH)
    return Split(tuple(days), months)


PERIODS = ("day", "week", "month")  # a week starts on Monday (ISO 8601), a month on its 1st


def period_start(period: str, day: dt.date) -> dt.date:
    """The first day of the day, week or month that holds `day`."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _next_period_start(period: str, day: dt.date) -> dt.date:
    first = period_start(period, day)
    if period == "month":
        return _first_of_next_month(first)
    return first + dt.timedelta(days=7 if period == "week" else 1)


def cut_buckets(period: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Consecutive inclusive (first, last) days covering [start, end] exactly, one per day, week or month;
    the first and last are cut at the range's ends, so the buckets add up to the range."""
    buckets, first = [], start
    while first <= end:
        last = min(end, _next_period_start(period, first) - dt.timedelta(days=1))
        buckets.append((first, last))
        first = last + dt.timedelta(days=1)
    return buckets


def count_buckets(period: str, start: dt.date, end: dt.date) -> int:
    """How many buckets cut_buckets would give, without making them (to refuse a range too long first)."""
    if period == "day":
        return (end - start).days + 1
    if period == "week":
        return (period_start("week", end) - period_start("week", start)).days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


def is_whole_month(first: dt.date, last: dt.date) -> bool:
    return first.day == 1 and _first_of_next_month(first) - dt.timedelta(days=1) == last
