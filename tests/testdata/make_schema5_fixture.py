"""Made tests/testdata/schema5-node1.db and its .json with the code of commit 0a3e981 (schema 5, before compact sales):

    git worktree add /tmp/old 0a3e981 && cd /tmp/old && .venv/bin/python <this file> <out dir>

Two nodes (3 in epoch 1, 1 in epoch 2) with the demo chain, sales on both sides, a sale id reused with other content
(the lower origin's wins on node 1), a void, a CPF registered on both sides (merged), relayed changes; the .json holds
what that code read from node 1's file: its vector, its whole log as shipped, and reports. tests/test_migrations.py
opens a copy with today's code and checks it reads the same."""

import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path

sys.path[:0] = [".", "tests"]
from replicas import AT, Replica, demo_chain  # noqa: E402

from db.changes import read_after  # noqa: E402
from db.sales import void_sale  # noqa: E402
from models.records import User  # noqa: E402

out = Path(sys.argv[1])
work = out / "work"
work.mkdir(parents=True, exist_ok=True)
a, b = Replica(work / "node-3.db", node_id=3, epoch=1), Replica(work / "node-1.db", node_id=1, epoch=2)
stores, sellers = demo_chain(a)
b.pull_from(a)
for i in range(5):
    a.sell(sellers[i % len(sellers)].id, stores[i % len(stores)].id, 1_000 + i)
for i in range(3):
    b.sell(sellers[0].id, stores[1].id, 2_000 + i)
reused = "5a0e4f7c-1111-4aaa-8bbb-000000000001"
a.sell(sellers[0].id, stores[0].id, 777, sale_id=reused)
b.sell(sellers[1].id, stores[1].id, 888, sale_id=reused)
a.register(User("00000000-0000-4000-8000-0000000000a1", "52998224725", "Dupla A", 1990, "seller"), "scrypt$test")
b.register(User("00000000-0000-4000-8000-0000000000b1", "52998224725", "Dupla B", 1991, "seller"), "scrypt$test")
b.sell("00000000-0000-4000-8000-0000000000b1", stores[0].id, 4_321)
voided = a.sell(sellers[2].id, stores[2].id, 999).sale_id
a.ledger.commit(lambda c, s: void_sale(c, voided, sellers[2].id, "motivo de teste", AT, 1, s, lambda sale, held: None))
b.pull_from(a)
a.pull_from(b)
b.pull_from(a)
log, more = b.db.read(lambda c: read_after(c, b.changes.vector(), {}, 1_000_000))
assert not more
today = dt.date(2026, 11, 26)
ranges = [(None, None), (today - dt.timedelta(days=40), today - dt.timedelta(days=3)), (today, today)]
reports = {
    "sellers": {s.id: [list(map(int, vars(b.reports.seller_total(s.id, *r)).values())) for r in ranges] for s in b.users.list_sellers()},
    "stores": {s.id: [list(map(int, vars(b.reports.store_total(s.id, *r)).values())) for r in ranges] for s in stores},
    "best_sellers": [[i, n, t.total_cents, t.count] for r in ranges for i, n, t in b.reports.best_sellers(*r, 100)],
}
vector = sorted([*key, seq] for key, seq in b.changes.vector().items())
b.close()
a.close()
conn = sqlite3.connect(work / "node-1.db")
conn.execute(f"VACUUM INTO '{out / 'schema5-node1.db'}'")
conn.close()
(out / "schema5-node1.json").write_text(json.dumps({"vector": vector, "log": log, "reports": reports,
                                                    "ranges": [[d and d.isoformat() for d in r] for r in ranges]}, indent=0))
print(len(log), "changes;", vector)
