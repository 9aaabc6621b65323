"""The seller's queue: sales that no server could take, kept on the seller's machine until one can.

Rules:
- A queued sale keeps its sale_id and its date, so sending it later (even
  twice, or after a send whose answer was lost) records it exactly once.
- The queue is a small SQLite file (ONSELL_QUEUE, else the user's data
  directory: client/config.py), committed before the seller is told the sale is kept, and
  readable only by its owner (it holds the seller's sign-in token).
- The sender sends the oldest first and deletes a sale only once the server
  acknowledged it. A sale the server refuses for good (conflict, invalid) stays,
  marked with the reason, and is never sent again; one refused for an
  expired token waits until that seller signs in again. So does one queued
  by a seller signed in with no server (client/offline.py): it has no token,
  and goes out with the first one that seller gets. Nothing is ever dropped.
- One send at a time per queue: a sale sent by the sender thread is not sent
  again (and counted twice) by a send at sign-in.
"""

import datetime as dt
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from client.connection import Connection, RemoteError, ServerUnreachable
from models.money import format_cents
from runtime.clock import SystemClock
from runtime.threads import leave_signals_to_the_main_thread

log = logging.getLogger("onsell.client.queue")
SEND_INTERVAL_S = 2.0
RETRYABLE = ("unauthenticated", "unavailable", "not_coordinator", "rate_limited")


@dataclass(frozen=True)
class QueuedSale:
    sale_id: str
    seller_cpf: str
    store_id: str
    store_name: str
    amount_cents: int
    sold_on: dt.date
    queued_at: str
    refused: str | None
    has_token: bool = True  # False: queued with no server at sign-in; it waits for that seller's first token


class SaleQueue:
    def __init__(self, path: Path, clock=None):
        self.path = Path(path)
        self.clock = clock or SystemClock()  # stamps queued_at
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("""CREATE TABLE IF NOT EXISTS queued_sales (
            position INTEGER PRIMARY KEY, sale_id TEXT NOT NULL UNIQUE, seller_cpf TEXT NOT NULL, token TEXT NOT NULL,
            store_id TEXT NOT NULL, store_name TEXT NOT NULL, amount_cents INTEGER NOT NULL, sold_on TEXT NOT NULL,
            queued_at TEXT NOT NULL, refused TEXT)""")
        self._lock = threading.Lock()
        self._sending = threading.Lock()

    def add(self, sale_id: str, seller_cpf: str, token: str, store_id: str, store_name: str, amount_cents: int,
            sold_on: dt.date) -> None:
        """Keep a sale durably, stamped with the clock's time (a sale already queued is left as it is)."""
        queued_at = self.clock.now().isoformat()
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO queued_sales (sale_id, seller_cpf, token, store_id, store_name, amount_cents, "
                               "sold_on, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (sale_id, seller_cpf, token, store_id, store_name, amount_cents, sold_on.isoformat(), queued_at))

    def pending(self, seller_cpf: str | None = None) -> list[QueuedSale]:
        """Queued sales, oldest first (those refused for good included, with the reason)."""
        sql = "SELECT sale_id, seller_cpf, store_id, store_name, amount_cents, sold_on, queued_at, refused, token != '' FROM queued_sales"
        with self._lock:
            rows = self._conn.execute(sql + (" WHERE seller_cpf = ?" if seller_cpf else "") + " ORDER BY position",
                                      (seller_cpf,) if seller_cpf else ()).fetchall()
        return [QueuedSale(r[0], r[1], r[2], r[3], r[4], dt.date.fromisoformat(r[5]), r[6], r[7], bool(r[8])) for r in rows]

    def count(self, seller_cpf: str | None = None) -> int:
        return len(self.waiting(seller_cpf))

    def waiting(self, seller_cpf: str | None = None, start: dt.date | None = None, end: dt.date | None = None) -> list[QueuedSale]:
        """Queued sales (a seller's, or every one) sold in [start, end] (either end open) that still wait to be sent (not
        refused)."""
        return [sale for sale in self.pending(seller_cpf) if sale.refused is None
                and (start is None or sale.sold_on >= start) and (end is None or sale.sold_on <= end)]

    def renew_token(self, seller_cpf: str, token: str) -> None:
        """A seller signed in again: their queued sales go out with the new token."""
        with self._lock:
            self._conn.execute("UPDATE queued_sales SET token = ? WHERE seller_cpf = ?", (token, seller_cpf))

    def _next(self, skip_sellers: set[str]) -> tuple | None:
        with self._lock:
            rows = self._conn.execute("SELECT sale_id, token, store_id, amount_cents, sold_on, seller_cpf FROM queued_sales "
                                      "WHERE refused IS NULL ORDER BY position").fetchall()
        return next((r for r in rows if r[5] not in skip_sellers), None)

    def _done(self, sale_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM queued_sales WHERE sale_id = ?", (sale_id,))

    def _refuse(self, sale_id: str, reason: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE queued_sales SET refused = ? WHERE sale_id = ?", (reason, sale_id))

    def send_pending(self, connection: Connection) -> int:
        """Send queued sales, oldest first, until none is left or no server answers; how many were recorded."""
        with self._sending:
            return self._send_pending(connection)

    def _send_pending(self, connection: Connection) -> int:
        sent, waiting_for_sign_in = 0, set()
        while (row := self._next(waiting_for_sign_in)) is not None:
            sale_id, token, store_id, cents, sold_on, seller_cpf = row
            if not token:
                waiting_for_sign_in.add(seller_cpf)
                continue
            params = {"token": token, "sale_id": sale_id, "store_id": store_id, "amount": format_cents(cents), "sold_on": sold_on}
            try:
                connection.call("sales.record", params)
            except ServerUnreachable:
                return sent
            except RemoteError as error:
                if error.reason == "unauthenticated":
                    waiting_for_sign_in.add(seller_cpf)  # an expired token: this seller's sales wait for a new sign-in
                    continue
                if error.reason in RETRYABLE:
                    return sent
                log.warning("queued sale %s refused: %s", sale_id, error.reason or error.message)
                self._refuse(sale_id, error.reason or error.message)
                continue
            self._done(sale_id)
            sent += 1
        return sent

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class QueueSender:
    """A background thread that keeps sending the queue with a connection of its own."""

    def __init__(self, queue: SaleQueue, servers: dict[int, tuple[str, int]], failover_timeout_s: float, clock=None,
                 tls_context=None, on_sent: Callable[[int], None] | None = None):
        """on_sent(count) is told, from the sender's thread, each time queued sales were recorded."""
        self.queue = queue
        self.on_sent = on_sent or (lambda count: None)
        self.connection = Connection(servers, failover_timeout_s=failover_timeout_s, clock=clock or queue.clock,
                                     tls_context=tls_context)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sale-queue-sender", daemon=True)

    def start(self) -> "QueueSender":
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.connection.close()

    def _run(self) -> None:
        leave_signals_to_the_main_thread()  # a Ctrl+C at a prompt must wake the main thread at once
        while not self._stop.is_set():
            try:
                sent = self.queue.send_pending(self.connection)
                if sent:
                    self.on_sent(sent)
            except sqlite3.Error as exc:
                log.error("queue unreadable: %s", exc)
            except Exception:  # keep the thread: the queue is sent again next round
                log.exception("sending the queue failed")
            self._wake.wait(SEND_INTERVAL_S)
            self._wake.clear()
