"""The schema, as forward-only migrations numbered by PRAGMA user_version.

Never edit a released migration: append a new one. Ids are UUIDs so two nodes
never hand out the same id. Every write is logged as a change, the log
replication ships: its origin (node, incarnation, epoch, seq) is unique in the
cluster and each origin's sequence has no gaps on any node. Since migration 6 a
sale is stored compactly (db.codec) and is itself the log entry of the change
that brought it (its local_pos and origin are in its row); every other change
is a row of `changes`. The vector of what a node holds is kept in `vector` in
the transaction of each change (db.change_rows). Totals per store and per seller
are kept per day, pentad, dekad, month, quarter and year (db.aggregates) in the same transaction
as each sale, so no report scans the sales table.
"""

import datetime as dt
import sqlite3

from db import codec
from db.aggregates import MIGRATION_6_LEVELS, add_level_from_days, create_digests, create_totals, rebuild_totals
from models.changes import LEGACY_INCARNATION

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE stores (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        cnpj TEXT NOT NULL UNIQUE,
        network_id TEXT NOT NULL REFERENCES networks(id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX stores_by_network ON stores(network_id);
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        cpf TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        birth_year INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('seller', 'manager')),
        pin_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sales (
        sale_id TEXT PRIMARY KEY,
        seller_id TEXT NOT NULL REFERENCES users(id),
        store_id TEXT NOT NULL REFERENCES stores(id),
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        sold_on TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        origin_node INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        UNIQUE (origin_node, origin_seq)
    );
    CREATE INDEX sales_by_seller_day ON sales(seller_id, sold_on);
    CREATE TABLE store_daily_totals (
        store_id TEXT NOT NULL,
        day TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        sale_count INTEGER NOT NULL,
        PRIMARY KEY (store_id, day)
    ) WITHOUT ROWID;
    CREATE INDEX store_daily_totals_by_day ON store_daily_totals(day);
    CREATE TABLE seller_daily_totals (
        seller_id TEXT NOT NULL,
        day TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        sale_count INTEGER NOT NULL,
        PRIMARY KEY (seller_id, day)
    ) WITHOUT ROWID;
    CREATE INDEX seller_daily_totals_by_day ON seller_daily_totals(day);
    """,
    # 2: monthly aggregates, so that a report over a long range reads whole months, not every day.
    """
    CREATE TABLE store_monthly_totals (
        store_id TEXT NOT NULL,
        month TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        sale_count INTEGER NOT NULL,
        PRIMARY KEY (store_id, month)
    ) WITHOUT ROWID;
    CREATE INDEX store_monthly_totals_by_month ON store_monthly_totals(month);
    CREATE TABLE seller_monthly_totals (
        seller_id TEXT NOT NULL,
        month TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        sale_count INTEGER NOT NULL,
        PRIMARY KEY (seller_id, month)
    ) WITHOUT ROWID;
    CREATE INDEX seller_monthly_totals_by_month ON seller_monthly_totals(month);
    INSERT INTO store_monthly_totals
        SELECT store_id, substr(day, 1, 7), SUM(total_cents), SUM(sale_count) FROM store_daily_totals GROUP BY 1, 2;
    INSERT INTO seller_monthly_totals
        SELECT seller_id, substr(day, 1, 7), SUM(total_cents), SUM(sale_count) FROM seller_daily_totals GROUP BY 1, 2;
    """,
    # 3: the change log for replication; users that can be merged; persisted node state.
    "migrate_to_change_log",
    # 4: administration: registers with versions (db.registers), voids, catalogue merges, the 'void' kind.
    "migrate_to_administration",
    # 5: incarnations: a change's origin names the incarnation of its node (db.incarnations), kept once in its own table.
    "migrate_to_incarnations",
    # 6: compact sales (db.codec), a sale as its own change-log entry, the vector in a table, totals on five levels.
    "migrate_to_compact_sales",
    # 7: cheaper writes of sales. The vector and the sale marks of sales rows kept per batch by
    # db.change_rows.sales_logged, not per row by triggers (which cost more than the row's own insert); the totals'
    # (key, period) indexes dropped (one store's or seller's rows are sought by (period, key), db.aggregates); sales
    # indexed by (day, seller), not (seller, day), so that a day's sales are written side by side (db.sales).
    """
    DROP TRIGGER vector_of_sales;
    DROP TRIGGER marks_of_sales;
    DROP INDEX sales_by_seller_day;
    CREATE INDEX sales_by_day_seller ON sales(day, seller);
    """ + "".join(f"DROP INDEX totals_{who}_{level}_by_key;\n" for who in ("store", "seller")
                  for level in MIGRATION_6_LEVELS),
    # 8: totals per pentad (db.periods), so that a range's ends read at most 4 days each, not 9: rankings over a range
    # not aligned to months sort a third fewer rows.
    "migrate_to_pentads",
]

# Its CHECK (kind IN ...) lists the kinds of db.kinds; a test keeps the two equal, so a new kind gets a new migration.
_CHANGE_LOG_SCHEMA = """
    CREATE TABLE changes (
        local_pos INTEGER PRIMARY KEY,
        origin_node INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('network', 'store', 'user', 'sale')),
        entity_id TEXT NOT NULL,
        UNIQUE (origin_node, origin_epoch, origin_seq)
    );
    CREATE INDEX changes_of_users ON changes(entity_id) WHERE kind = 'user';
    CREATE TABLE users_new (
        id TEXT PRIMARY KEY,
        cpf TEXT NOT NULL,
        name TEXT NOT NULL,
        birth_year INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('seller', 'manager')),
        pin_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        merged_into TEXT REFERENCES users(id)
    );
    INSERT INTO users_new SELECT id, cpf, name, birth_year, role, pin_hash, created_at, NULL FROM users;
    DROP TABLE users;
    ALTER TABLE users_new RENAME TO users;
    CREATE UNIQUE INDEX users_active_cpf ON users(cpf) WHERE merged_into IS NULL;
    CREATE INDEX users_by_cpf ON users(cpf);
    CREATE TABLE sales_new (
        sale_id TEXT PRIMARY KEY,
        seller_id TEXT NOT NULL REFERENCES users(id),
        store_id TEXT NOT NULL REFERENCES stores(id),
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        sold_on TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        origin_node INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL
    );
    INSERT INTO sales_new SELECT sale_id, seller_id, store_id, amount_cents, sold_on, recorded_at, origin_node, 1, origin_seq FROM sales;
    DROP TABLE sales;
    ALTER TABLE sales_new RENAME TO sales;
    CREATE INDEX sales_by_seller_day ON sales(seller_id, sold_on);
    CREATE TABLE node_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE user_merges (
        loser_id TEXT PRIMARY KEY,
        winner_id TEXT NOT NULL,
        cpf TEXT NOT NULL,
        merged_at TEXT NOT NULL
    )
"""


def migrate_to_change_log(conn: sqlite3.Connection, node_id: int) -> None:
    """Create the change log and give every existing row a change of this node in epoch 1
    (a single node's epoch), parents first, so replicas can apply them in order."""
    _run_statements(conn, _CHANGE_LOG_SCHEMA)
    rows, seq = [], 0
    for kind, sql in (("network", "SELECT id FROM networks ORDER BY created_at, id"),
                      ("store", "SELECT id FROM stores ORDER BY created_at, id"),
                      ("user", "SELECT id FROM users ORDER BY created_at, id"),
                      ("sale", "SELECT sale_id FROM sales ORDER BY origin_seq, sale_id")):
        for (entity_id,) in conn.execute(sql).fetchall():
            seq += 1
            rows.append((node_id, 1, seq, kind, entity_id))
    conn.executemany("INSERT INTO changes (origin_node, origin_epoch, origin_seq, kind, entity_id) VALUES (?, ?, ?, ?, ?)", rows)
    conn.executemany("UPDATE sales SET origin_node = ?, origin_epoch = 1, origin_seq = ? WHERE sale_id = ?",
                     [(node_id, s, entity_id) for _, _, s, kind, entity_id in rows if kind == "sale"])


# Network names are unique by the controller's check, not by the table: two nodes may rename two networks to one
# name during a partition, and applying that must not fail. A store's network_id has no foreign key: replication
# ships a store as it is now, and a store moved to a network created after it may arrive before that network.
# A sale's seller_id and store_id have no foreign key either: a relay ships rows as they are now, and what a sale
# names now may be newer than the sale (a CPF merge moved it to the account that won; a sale_id reused with other
# content kept the lower origin's, at another store), so it may reach a receiver before that account or store.
# A user's `registration` is the origin of the write that created it: CPF merges rank by it (db.merge_users).
# `creations` lists the origins of the writes that created a network or store: more than one means it was created
# on two sides of a partition (a grow-only set, merged by union, so every node sees it).
_ADMINISTRATION_SCHEMA = """
    CREATE TABLE networks_new (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        name_version TEXT NOT NULL DEFAULT '',
        creations TEXT NOT NULL DEFAULT '[]'
    );
    INSERT INTO networks_new (id, name, created_at) SELECT id, name, created_at FROM networks;
    DROP TABLE networks;
    ALTER TABLE networks_new RENAME TO networks;
    CREATE INDEX networks_by_name ON networks(name COLLATE NOCASE);
    CREATE TABLE stores_new (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        cnpj TEXT NOT NULL UNIQUE,
        network_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        open INTEGER NOT NULL DEFAULT 1,
        name_version TEXT NOT NULL DEFAULT '',
        network_version TEXT NOT NULL DEFAULT '',
        open_version TEXT NOT NULL DEFAULT '',
        creations TEXT NOT NULL DEFAULT '[]'
    );
    INSERT INTO stores_new (id, name, cnpj, network_id, created_at) SELECT id, name, cnpj, network_id, created_at FROM stores;
    DROP TABLE stores;
    ALTER TABLE stores_new RENAME TO stores;
    CREATE INDEX stores_by_network ON stores(network_id);
    ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN active_version TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN pin_version TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN store_ids TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE users ADD COLUMN stores_version TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN registration TEXT NOT NULL DEFAULT '';
    UPDATE users SET registration = COALESCE((SELECT origin_node || '.' || origin_epoch || '.' || origin_seq FROM changes
                                              WHERE kind = 'user' AND entity_id = users.id ORDER BY local_pos LIMIT 1), '');
    CREATE TABLE sales_new (
        sale_id TEXT PRIMARY KEY,
        seller_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        sold_on TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        origin_node INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL
    );
    INSERT INTO sales_new SELECT sale_id, seller_id, store_id, amount_cents, sold_on, recorded_at, origin_node, origin_epoch, origin_seq
        FROM sales;
    DROP TABLE sales;
    ALTER TABLE sales_new RENAME TO sales;
    CREATE INDEX sales_by_seller_day ON sales(seller_id, sold_on);
    CREATE TABLE sale_voids (
        sale_id TEXT PRIMARY KEY,
        voided_by TEXT NOT NULL,
        reason TEXT NOT NULL,
        voided_at TEXT NOT NULL,
        version TEXT NOT NULL
    );
    CREATE INDEX sale_voids_by_time ON sale_voids(voided_at);
    CREATE TABLE catalogue_merges (
        kind TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        key TEXT NOT NULL,
        merged_at TEXT NOT NULL,
        PRIMARY KEY (kind, entity_id)
    );
    CREATE TABLE changes_new (
        local_pos INTEGER PRIMARY KEY,
        origin_node INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('network', 'store', 'user', 'sale', 'void')),
        entity_id TEXT NOT NULL,
        UNIQUE (origin_node, origin_epoch, origin_seq)
    );
    INSERT INTO changes_new SELECT local_pos, origin_node, origin_epoch, origin_seq, kind, entity_id FROM changes;
    DROP TABLE changes;
    ALTER TABLE changes_new RENAME TO changes;
    CREATE INDEX changes_of_users ON changes(entity_id) WHERE kind = 'user';
    CREATE INDEX changes_of_voids ON changes(entity_id) WHERE kind = 'void'
"""


def migrate_to_administration(conn: sqlite3.Connection, node_id: int) -> None:
    """Registers that can change after creation (names, open, active, PIN, a seller's stores), voids, and
    the 'void' kind in the change log (its CHECK is rebuilt: SQLite cannot alter one)."""
    _run_statements(conn, _ADMINISTRATION_SCHEMA)


# Every change written before incarnations existed gets its node's legacy incarnation (LEGACY_INCARNATION, the same on every node),
# so no node sees a change it already holds as new and nothing is shipped again. A change id is (origin_inc,
# origin_epoch, origin_seq): an incarnation belongs to one node, whose id is in its row.
_INCARNATIONS_SCHEMA = f"""
    CREATE TABLE incarnations (
        id INTEGER PRIMARY KEY,
        node INTEGER NOT NULL,
        incarnation TEXT NOT NULL,
        UNIQUE (node, incarnation)
    );
    INSERT INTO incarnations (node, incarnation) SELECT DISTINCT origin_node, '{LEGACY_INCARNATION}' FROM changes ORDER BY origin_node;
    CREATE TABLE changes_new (
        local_pos INTEGER PRIMARY KEY,
        origin_inc INTEGER NOT NULL REFERENCES incarnations(id),
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('network', 'store', 'user', 'sale', 'void')),
        entity_id TEXT NOT NULL,
        UNIQUE (origin_inc, origin_epoch, origin_seq)
    );
    INSERT INTO changes_new
        SELECT c.local_pos, i.id, c.origin_epoch, c.origin_seq, c.kind, c.entity_id
        FROM changes c JOIN incarnations i ON i.node = c.origin_node AND i.incarnation = '{LEGACY_INCARNATION}';
    DROP TABLE changes;
    ALTER TABLE changes_new RENAME TO changes;
    CREATE INDEX changes_of_users ON changes(entity_id) WHERE kind = 'user';
    CREATE INDEX changes_of_voids ON changes(entity_id) WHERE kind = 'void'
"""


def migrate_to_incarnations(conn: sqlite3.Connection, node_id: int) -> None:
    """Change ids that cannot collide: (incarnation, epoch, seq), the incarnation stored once (db.incarnations)."""
    _run_statements(conn, _INCARNATIONS_SCHEMA)


# Sellers and stores get small local keys (local_keys) used by the sales and the totals; their UUIDs are kept once.
# A sale's row holds its first change here (local_pos, origin_*): `changes` keeps every other change, including
# later changes of a held sale (a relay, a repair). label_* is the origin of the sale's content when it is not that
# change's own (a relayed sale, the lower origin of a reused id); NULL otherwise. sale_marks holds the position of
# every 256th sale change of an origin, and of its first, so "where does what a peer lacks start" needs no index
# on every sale's origin. Both tables' local_pos come from one sequence (db.changes).
_COMPACT_SALES_SCHEMA = """
    CREATE TABLE local_keys (key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);
    INSERT INTO local_keys (id) SELECT id FROM stores UNION SELECT id FROM users UNION SELECT seller_id FROM sales
        UNION SELECT store_id FROM sales;
    CREATE TEMP TABLE first_sale_change AS
        SELECT entity_id, MIN(local_pos) AS local_pos FROM changes WHERE kind = 'sale' GROUP BY entity_id;
    CREATE TABLE sales_new (
        local_pos INTEGER PRIMARY KEY,
        sale_id BLOB NOT NULL UNIQUE,
        seller INTEGER NOT NULL,
        store INTEGER NOT NULL,
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
        day INTEGER NOT NULL,
        recorded_ms INTEGER NOT NULL,
        origin_inc INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        label_node INTEGER,
        label_epoch INTEGER,
        label_seq INTEGER
    );
    INSERT INTO sales_new
        SELECT c.local_pos, onsell_uuid_bytes(s.sale_id), ks.key, kt.key, s.amount_cents, onsell_day_number(s.sold_on),
               onsell_time_ms(s.recorded_at), c.origin_inc, c.origin_epoch, c.origin_seq,
               CASE WHEN (i.node, c.origin_epoch, c.origin_seq) = (s.origin_node, s.origin_epoch, s.origin_seq) THEN NULL
                    ELSE s.origin_node END,
               CASE WHEN (i.node, c.origin_epoch, c.origin_seq) = (s.origin_node, s.origin_epoch, s.origin_seq) THEN NULL
                    ELSE s.origin_epoch END,
               CASE WHEN (i.node, c.origin_epoch, c.origin_seq) = (s.origin_node, s.origin_epoch, s.origin_seq) THEN NULL
                    ELSE s.origin_seq END
        FROM sales s JOIN temp.first_sale_change f ON f.entity_id = s.sale_id JOIN changes c ON c.local_pos = f.local_pos
        JOIN incarnations i ON i.id = c.origin_inc JOIN local_keys ks ON ks.id = s.seller_id JOIN local_keys kt ON kt.id = s.store_id;
    DELETE FROM changes WHERE local_pos IN (SELECT local_pos FROM temp.first_sale_change);
    DROP TABLE temp.first_sale_change;
    DROP TABLE sales;
    ALTER TABLE sales_new RENAME TO sales;
    CREATE INDEX sales_by_seller_day ON sales(seller, day);
    CREATE TABLE vector (
        origin_inc INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (origin_inc, origin_epoch)
    ) WITHOUT ROWID;
    INSERT INTO vector SELECT origin_inc, origin_epoch, MAX(origin_seq) FROM (
        SELECT origin_inc, origin_epoch, origin_seq FROM changes UNION ALL SELECT origin_inc, origin_epoch, origin_seq FROM sales
    ) GROUP BY 1, 2;
    CREATE TABLE sale_marks (
        origin_inc INTEGER NOT NULL,
        origin_epoch INTEGER NOT NULL,
        origin_seq INTEGER NOT NULL,
        local_pos INTEGER NOT NULL,
        PRIMARY KEY (origin_inc, origin_epoch, origin_seq)
    ) WITHOUT ROWID;
    INSERT INTO sale_marks SELECT origin_inc, origin_epoch, origin_seq, local_pos FROM sales WHERE origin_seq % 256 = 1;
    INSERT OR IGNORE INTO sale_marks SELECT origin_inc, origin_epoch, MIN(origin_seq), MIN(local_pos) FROM sales GROUP BY 1, 2;
    CREATE TRIGGER vector_of_changes AFTER INSERT ON changes BEGIN
        INSERT INTO vector VALUES (NEW.origin_inc, NEW.origin_epoch, NEW.origin_seq)
            ON CONFLICT (origin_inc, origin_epoch) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    END;
    CREATE TRIGGER vector_of_sales AFTER INSERT ON sales BEGIN
        INSERT INTO vector VALUES (NEW.origin_inc, NEW.origin_epoch, NEW.origin_seq)
            ON CONFLICT (origin_inc, origin_epoch) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    END;
    CREATE TRIGGER marks_of_sales AFTER INSERT ON sales
        WHEN NEW.origin_seq % 256 = 1
          OR NOT EXISTS (SELECT 1 FROM sale_marks WHERE origin_inc = NEW.origin_inc AND origin_epoch = NEW.origin_epoch)
    BEGIN
        INSERT OR IGNORE INTO sale_marks VALUES (NEW.origin_inc, NEW.origin_epoch, NEW.origin_seq, NEW.local_pos);
    END;
    DROP TABLE store_daily_totals;
    DROP TABLE seller_daily_totals;
    DROP TABLE store_monthly_totals;
    DROP TABLE seller_monthly_totals
"""


def migrate_to_compact_sales(conn: sqlite3.Connection, node_id: int) -> None:
    """Sales stored compactly and as their own change-log entry, the vector in a table, totals on five levels.

    Fails, changing nothing, if a sale has no change (the log would lose it)."""
    sales = conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    odd = conn.execute("SELECT sale_id FROM sales WHERE length(sale_id) != 36 OR sale_id != lower(sale_id) LIMIT 1").fetchone()
    if odd is not None:
        raise RuntimeError(f"migration 6: sale id {odd[0]!r} is not a UUID; nothing was changed")
    conn.create_function("onsell_uuid_bytes", 1, codec.uuid_bytes, deterministic=True)
    conn.create_function("onsell_day_number", 1, lambda iso: codec.day_number(dt.date.fromisoformat(iso)), deterministic=True)
    conn.create_function("onsell_time_ms", 1, _time_ms_or_zero, deterministic=True)
    _run_statements(conn, _COMPACT_SALES_SCHEMA)
    moved = conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0]
    if moved != sales:
        raise RuntimeError(f"migration 6: {sales - moved} sales have no change in the log; nothing was changed")
    create_totals(conn)
    rebuild_totals(conn)
    create_digests(conn)


def migrate_to_pentads(conn: sqlite3.Connection, node_id: int) -> None:
    """Totals per pentad, summed from the totals per day."""
    add_level_from_days(conn, "pentad")


def _time_ms_or_zero(iso_time: str) -> int:
    try:
        return codec.time_ms(iso_time)
    except ValueError:  # a test's or a hand-made row: the time is only shown
        return 0


def _run_statements(conn: sqlite3.Connection, script: str) -> None:
    """Run each statement of a script in turn (a trigger's body holds semicolons of its own)."""
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                conn.execute(statement)
            statement = ""
    if statement.strip(" \n;"):
        conn.execute(statement)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, node_id: int = 1) -> int:
    """Apply every migration above the file's user_version, each in its own transaction.

    A migration is SQL, or the name of a function here taking (conn, node_id).
    Foreign keys are off while a migration rebuilds tables, then checked."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise RuntimeError(f"database schema {version} is newer than this program ({len(MIGRATIONS)})")
    for number in range(version + 1, len(MIGRATIONS) + 1):
        step = MIGRATIONS[number - 1]
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if step.isidentifier():
                globals()[step](conn, node_id)
            else:
                _run_statements(conn, step)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration {number} broke {len(broken)} foreign keys")
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA foreign_keys = ON")
    return len(MIGRATIONS)
