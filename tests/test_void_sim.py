"""Voids and their sales in the deterministic simulator: each simulated node keeps a real SQLite database, and every
change it stores (written there or received, in whatever order the simulated network brought it) is applied to that
database by the product's own merge code (db.merge). Across a partition a void may reach a node before its sale,
and one sale may be voided on both sides: after healing, every node counts the same totals and keeps the same void."""

import functools

import pytest

from db.database import Database
from db.merge import apply_entries
from db.sales import find_sale
from models.changes import Origin
from models.records import new_id
from replication.simulator import ClusterSimulation

SELLER, STORE, NETWORK = new_id(), new_id(), new_id()
VOIDER = new_id()
AT = "2026-11-26T15:00:00.000000Z"


def fixture_rows(conn) -> None:
    """The catalogue every node starts with, outside the change log (it is not what this test replicates)."""
    conn.execute("INSERT INTO networks (id, name, created_at) VALUES (?, 'REDE', ?)", (NETWORK, AT))
    conn.execute("INSERT INTO stores (id, name, cnpj, network_id, created_at) VALUES (?, 'Loja', '11444777000161', ?, ?)",
                 (STORE, NETWORK, AT))
    for user_id, cpf in ((SELLER, "52998224725"), (VOIDER, "39053344705")):
        conn.execute("INSERT INTO users (id, cpf, name, birth_year, role, pin_hash, created_at) VALUES (?, ?, 'Pessoa', 1990, "
                     "'seller', '', ?)", (user_id, cpf, AT))


SIMULATED_INCARNATION = "5"  # the simulator's origins have none: one for all its nodes (it never reuses an id)


def entry(origin: Origin, payload: tuple) -> dict:
    """The wire form of a sale or a void change, as replication ships it."""
    kind, sale_id, *rest = payload
    if kind == "sale":
        data = {"id": sale_id, "seller_id": SELLER, "store_id": STORE, "amount_cents": rest[0], "sold_on": "2026-11-26",
                "recorded_at": AT}
    else:
        data = {"id": sale_id, "voided_by": VOIDER, "reason": rest[0], "voided_at": AT,
                "version": f"{rest[1]:015d}.{origin.node:05d}.{origin.epoch:010d}.{origin.seq:012d}"}
    return {"origin": [origin.node, SIMULATED_INCARNATION, origin.epoch, origin.seq], "kind": kind, "data": data}


class Databases:
    """One real database per simulated node; the simulator's on_append applies each stored change to it."""

    def __init__(self, tmp_path, nodes):
        self.dbs = {n: Database(tmp_path / f"sim-{n}.db", n) for n in nodes}
        for db in self.dbs.values():
            db.write(fixture_rows)

    def on_append(self, node: int, origin: Origin, payload) -> None:
        result = self.dbs[node].write(functools.partial(apply_entries, entries=[entry(origin, payload)], merged_at="t"))
        assert result.applied == 1, f"node {node} could not apply {origin}"

    def counted(self, node: int) -> tuple:
        """What node counts: its store total, and its voids."""
        return self.dbs[node].read(lambda c: (
            tuple(c.execute("SELECT SUM(total_cents), SUM(sale_count) FROM totals_store_day").fetchone()),
            sorted(tuple(r) for r in c.execute("SELECT sale_id, reason FROM sale_voids"))))

    def close(self):
        for db in self.dbs.values():
            db.close()


@pytest.mark.parametrize("seed", range(4))
def test_voids_made_on_one_side_of_a_partition_win_over_sales_on_the_other_on_every_node(tmp_path, seed):
    nodes = [1, 2, 3]
    dbs = Databases(tmp_path, nodes)
    try:
        sim = ClusterSimulation(nodes, seed=seed, acks_required=1, on_append=dbs.on_append)
        sim.start(*nodes)
        sim.run_until(lambda: sim.serving() == [3] and sim.settled_on(3))
        kept, both_sides, late = new_id(), new_id(), new_id()
        for sale_id, cents in ((kept, 1_000), (both_sides, 20_000)):
            sim.write(3, ("sale", sale_id, cents))
        sim.run_until(lambda: sim.converged())
        sim.partition([3], [1, 2])
        sim.run_until(lambda: 2 in sim.serving())
        sim.write(3, ("void", both_sides, "motivo do lado 3", 2_000))
        sim.write(2, ("void", both_sides, "motivo do lado 2", 1_000))  # earlier: kept everywhere
        sim.write(2, ("void", late, "anulada antes de chegar", 1_500))  # its sale is on the other side only
        sim.write(3, ("sale", late, 300_000))
        sim.run(2_000)
        assert dbs.dbs[1].read(lambda c: find_sale(c, late)) is None
        sim.heal()
        sim.run_until(lambda: sim.converged(), limit_ms=30_000)
        sim.check_converged()
        results = {n: dbs.counted(n) for n in nodes}
        assert results[1] == results[2] == results[3], results
        (total_cents, count), voids = results[1]
        assert (total_cents, count) == (1_000, 1)
        assert voids == sorted([(both_sides, "motivo do lado 2"), (late, "anulada antes de chegar")])
    finally:
        dbs.close()
