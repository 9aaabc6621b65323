"""Covering a date range with the periods the aggregates keep (pure).

The aggregates (db.aggregates) keep totals per day, per pentad (days 1-5,
6-10, 11-15, 16-20, 21-25 and 26 to the end of a month), per dekad (days 1-10,
11-20 and 21 to the end of a month), per month, per quarter and per year: each
period lies inside one period of the next level. A range [start, end] (either
end open) is covered exactly, with no overlap, by taking at each point the
largest period that starts there and ends inside the range. So a report reads
at each end of a range at most 4 days, a pentad, 2 dekads, 2 months and 3
quarters, and the whole years between, per key, not every day.
"""

import datetime as dt

from db.codec import day_number, day_of

LEVELS = ("day", "pentad", "dekad", "month", "quarter", "year")  # finest first; each period lies inside one period of the next level
_PARTS_OF_MONTH = {"pentad": 6, "dekad": 3}
FIRST_DAY, LAST_DAY = dt.date(1, 1, 1), dt.date(9999, 12, 31)  # an open end of a range


def period_of(level: str, day: dt.date) -> int:
    """The number of the level's period that holds `day` (what the aggregate tables are keyed by)."""
    if level == "day":
        return day_number(day)
    month = day.year * 12 + day.month - 1
    if level == "month":
        return month
    parts = _PARTS_OF_MONTH.get(level)
    if parts:  # the last part of a month runs to its end
        return month * parts + min((day.day - 1) // (30 // parts), parts - 1)
    if level == "quarter":
        return month // 3
    return day.year


def period_days(level: str, period: int) -> tuple[dt.date, dt.date]:
    """The first and last day of a period."""
    if level == "day":
        return day_of(period), day_of(period)
    if level == "year":
        return dt.date(period, 1, 1), dt.date(period, 12, 31)
    if level == "quarter":
        first = dt.date(period // 4, period % 4 * 3 + 1, 1)
        last_month = dt.date(period // 4, period % 4 * 3 + 3, 1)
        if (last_month.year, last_month.month) == (9999, 12):  # the calendar's last quarter: no next month to step back from
            return first, LAST_DAY
        return first, _first_of_next_month(last_month) - dt.timedelta(days=1)
    parts = _PARTS_OF_MONTH.get(level, 1)
    month = period // parts
    first = dt.date(month // 12, month % 12 + 1, 1)
    last = _first_of_next_month(first) - dt.timedelta(days=1) if first.year < 9999 or first.month < 12 else LAST_DAY
    if parts == 1:
        return first, last
    part, length = period % parts, 30 // parts  # the last part of a month runs to its end
    return first.replace(day=1 + length * part), last if part == parts - 1 else first.replace(day=length * (part + 1))


def cover(start: dt.date | None, end: dt.date | None) -> list[tuple[str, int, int]]:
    """Runs (level, first period, last period) covering [start, end] exactly; an open end is the calendar's."""
    day, end = start or FIRST_DAY, end or LAST_DAY
    runs: list[tuple[str, int, int]] = []
    while day <= end:
        level = _largest_starting_at(day, end)
        first = last = period_of(level, day)
        if level == "year":  # whole years at once: an open range spans thousands
            last = end.year if end.month == 12 and end.day == 31 else end.year - 1
        while level != "year":  # whole periods of this level, up to the range's end or the next larger period that fits
            following = period_days(level, last)[1]
            if following >= end or following == LAST_DAY:
                break
            nxt = following + dt.timedelta(days=1)
            if _largest_starting_at(nxt, end) != level:
                break
            last += 1
        runs.append((level, first, last))
        last_day = period_days(level, last)[1]
        if last_day >= end:
            break
        day = last_day + dt.timedelta(days=1)
    return runs


def _largest_starting_at(day: dt.date, end: dt.date) -> str:
    for level in reversed(LEVELS):
        first, last = period_days(level, period_of(level, day))
        if first == day and last <= end:
            return level
    return "day"


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


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
