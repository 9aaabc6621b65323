"""The schema, as forward-only migrations numbered by PRAGMA user_version.

Never edit a released migration: append a new one. Ids are UUID strings so two
nodes never hand out the same id; each sale records the node that accepted it
and that node's growing sequence number, ready for replication. Daily
and monthly aggregates per store and per seller are kept in the same
transaction as each sale, so no report scans the sales table.
"""

import sqlite3

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
]


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration above the file's user_version, each in its own transaction."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise RuntimeError(f"database schema {version} is newer than this program ({len(MIGRATIONS)})")
    for number in range(version + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[number - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
