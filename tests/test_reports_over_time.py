"""reports.sales_by_period: sales per day, week or month, cut at the range's ends, checked against the sales table."""

import datetime as dt
import random

import pytest
from inprocess import TODAY, call, error, login, reason, record, stores_by_name
from support import DEMO_MANAGER_CPF, DEMO_SELLER2_CPF, DEMO_SELLER_CPF

from db.codec import day_number
from db.periods import count_buckets, cut_buckets
from db.sales import NOT_VOIDED


def sales_table_total(node, first: dt.date, last: dt.date, where: str = "", params: tuple = ()) -> tuple[int, int]:
    """(cents, count) of unvoided sales from first to last, straight from the sales table: the reference."""
    sql = ("SELECT COALESCE(SUM(s.amount_cents), 0), COUNT(*) FROM sales s JOIN local_keys ks ON ks.key = s.seller "
           f"JOIN local_keys kt ON kt.key = s.store WHERE s.day BETWEEN ? AND ? AND {NOT_VOIDED} {where}")
    return node.database.read(lambda c: c.execute(sql, (day_number(first), day_number(last), *params)).fetchone())


def cents(amount: str) -> int:
    whole, _, fraction = amount.partition(".")
    return int(whole) * 100 + int(fraction)


def series(node, token, **params) -> dict:
    return call(node, "reports.sales_by_period", token=token, **params)


def test_buckets_are_cut_at_the_ranges_ends_and_cover_it_exactly():
    """Weeks start on Monday and months on the 1st, the first and last bucket are cut at the range's ends, none overlap."""
    start, end = dt.date(2026, 1, 29), dt.date(2026, 4, 2)  # a Thursday to a Thursday
    weeks = cut_buckets("week", start, end)
    assert weeks[0] == (start, dt.date(2026, 2, 1)) and weeks[1][0].weekday() == 0 and weeks[-1] == (dt.date(2026, 3, 30), end)
    months = cut_buckets("month", start, end)
    assert months == [(start, dt.date(2026, 1, 31)), (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
                      (dt.date(2026, 3, 1), dt.date(2026, 3, 31)), (dt.date(2026, 4, 1), end)]
    rng = random.Random(7)
    for _ in range(300):
        first = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(800))
        last = first + dt.timedelta(days=rng.randrange(400))
        for period in ("day", "week", "month"):
            buckets = cut_buckets(period, first, last)
            assert buckets[0][0] == first and buckets[-1][1] == last and len(buckets) == count_buckets(period, first, last)
            assert all(b[1] + dt.timedelta(days=1) == n[0] for b, n in zip(buckets, buckets[1:])), (period, first, last)


def test_every_series_adds_up_to_the_sales_table_for_random_ranges_and_subjects(node, clock):
    """Chain, store, network and seller series over random ranges: each bucket and the whole equal the sales table's sums."""
    manager = login(node, DEMO_MANAGER_CPF)
    stores = call(node, "stores.list")["stores"]
    sellers = call(node, "sellers.list", token=manager)["sellers"]
    rng = random.Random(11)
    for _ in range(40):
        last = TODAY - dt.timedelta(days=rng.randrange(60))
        first = last - dt.timedelta(days=rng.randrange(120))
        period = rng.choice(["day", "week", "month"])
        subject, where, params = rng.choice([
            ({}, "", ()),
            ({"store_id": (s := rng.choice(stores))["id"]}, "AND kt.id = ?", (s["id"],)),
            ({"network_id": s["network"]["id"]}, "AND kt.id IN (SELECT id FROM stores WHERE network_id = ?)", (s["network"]["id"],)),
            ({"seller_id": (p := rng.choice(sellers))["id"]}, "AND ks.id = ?", (p["id"],)),
        ])
        answer = series(node, manager, period=period, **{"from": first.isoformat(), "to": last.isoformat()}, **subject)
        assert [(b["start"], b["end"]) for b in answer["series"]] == \
            [(a.isoformat(), b.isoformat()) for a, b in cut_buckets(period, first, last)]
        for bucket in answer["series"]:
            expected = sales_table_total(node, dt.date.fromisoformat(bucket["start"]), dt.date.fromisoformat(bucket["end"]), where, params)
            assert (cents(bucket["total"]), bucket["count"]) == tuple(expected), (period, bucket, subject)
        assert (cents(answer["total"]), answer["count"]) == tuple(sales_table_total(node, first, last, where, params))
        days = (last - first).days + 1
        before = sales_table_total(node, first - dt.timedelta(days=days), first - dt.timedelta(days=1), where, params)
        assert (cents(answer["previous"]["total"]), answer["previous"]["count"]) == tuple(before)


def test_known_sales_give_known_buckets_averages_and_previous(node, clock):
    """Two sellers' sales on known days of a month with no demo sales: exact week buckets, average ticket and previous period."""
    sellers = {cpf: login(node, cpf) for cpf in (DEMO_SELLER_CPF, DEMO_SELLER2_CPF)}
    store = stores_by_name(node)["Max Atacado Centro"]
    month_start = dt.date(2026, 3, 1)  # a Sunday; demo sales are all within the 90 days before 26/11/2026
    for cpf, amount, day in [(DEMO_SELLER_CPF, "10.00", 1), (DEMO_SELLER2_CPF, "5.01", 1), (DEMO_SELLER_CPF, "7.00", 2),
                             (DEMO_SELLER_CPF, "3.00", 20), (DEMO_SELLER_CPF, "1.00", 8 - 28)]:  # the last: 8 Feb
        record(node, sellers[cpf], store, amount, month_start + dt.timedelta(days=day - 1))
    manager = login(node, DEMO_MANAGER_CPF)
    answer = series(node, manager, period="week", **{"from": "2026-03-01", "to": "2026-03-21"}, store_id=store)
    assert [(b["start"], b["total"], b["count"], b["average"]) for b in answer["series"]] == [
        ("2026-03-01", "15.01", 2, "7.51"),   # Sunday alone: the week is cut at `from`; 15.01 / 2 = 7.505 -> 7.51
        ("2026-03-02", "7.00", 1, "7.00"),
        ("2026-03-09", "0.00", 0, "0.00"),
        ("2026-03-16", "3.00", 1, "3.00"),    # cut at `to` on Saturday 21
    ]
    assert answer["store"]["id"] == store and (answer["total"], answer["count"], answer["average"]) == ("25.01", 4, "6.25")
    assert answer["previous"] == {"from": "2026-02-08", "to": "2026-02-28", "total": "1.00", "count": 1, "average": "1.00"}


def test_without_from_the_series_ends_today_with_the_default_number_of_periods(node):
    """No `from`/`to`: 30 days, 12 weeks or 12 months ending today (in the chain's time zone)."""
    manager = login(node, DEMO_MANAGER_CPF)
    for period, points in (("day", 30), ("week", 12), ("month", 12)):
        answer = series(node, manager, period=period)
        assert len(answer["series"]) == points and answer["to"] == TODAY.isoformat(), period
        assert answer["series"][-1]["end"] == TODAY.isoformat()


@pytest.mark.parametrize("params, field", [
    ({"period": "year"}, "period"),
    ({"period": "day", "from": "2025-01-01", "to": "2026-03-01"}, "from"),  # more than 400 days
    ({"period": "week", "from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ({"period": "day", "store_id": "7f3b9c9e-5a7a-4c1e-9d7e-0a1b2c3d4e5f", "seller_id": "7f3b9c9e-5a7a-4c1e-9d7e-0a1b2c3d4e5f"},
     "seller_id"),
])
def test_bad_series_requests_are_refused_naming_the_field(node, params, field):
    """A wrong period, a range of over 400 periods, a reversed range or two subjects: -32602 naming the field."""
    err = error(node, "reports.sales_by_period", token=login(node, DEMO_MANAGER_CPF), **params)
    assert err.code == -32602 and err.data["field"] == field


def test_a_seller_may_not_read_the_series(node):
    """The series is a manager's report: a seller gets 1002."""
    assert reason(error(node, "reports.sales_by_period", token=login(node, DEMO_SELLER_CPF), period="day"))[0] == 1002


def test_network_and_seller_totals_in_detail_break_down_per_store_and_add_up(node, clock):
    """detail=true: the per-store rows of a network or a seller add up to its total and match the sales table."""
    manager = login(node, DEMO_MANAGER_CPF)
    stores = call(node, "stores.list")["stores"]
    network = stores[0]["network"]
    first, last = (TODAY - dt.timedelta(days=40)).isoformat(), TODAY.isoformat()
    answer = call(node, "reports.network_total", token=manager, network_id=network["id"], detail=True, **{"from": first, "to": last})
    in_network = {s["id"] for s in stores if s["network"]["id"] == network["id"]}
    assert {row["store"]["id"] for row in answer["stores"]} <= in_network and answer["stores"]
    assert sum(cents(r["total"]) for r in answer["stores"]) == cents(answer["total"])
    for row in answer["stores"]:
        expected = sales_table_total(node, dt.date.fromisoformat(first), TODAY, "AND kt.id = ?", (row["store"]["id"],))
        assert (cents(row["total"]), row["count"]) == tuple(expected)
    seller = call(node, "sellers.list", token=manager)["sellers"][0]
    mine = call(node, "reports.seller_total", token=manager, seller_id=seller["id"], detail=True)
    assert sum(cents(r["total"]) for r in mine["stores"]) == cents(mine["total"]) > 0
    assert sum(r["count"] for r in mine["stores"]) == mine["count"]
    assert [cents(r["total"]) for r in mine["stores"]] == sorted((cents(r["total"]) for r in mine["stores"]), reverse=True)
    assert "stores" not in call(node, "reports.seller_total", token=manager, seller_id=seller["id"])
    assert error(node, "reports.network_total", token=manager, network_id=network["id"], detail="yes").data["field"] == "detail"
