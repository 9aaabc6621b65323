"""Connections to one SQLite file: a single writer thread with group commit, and readers.

Every write is a function of a connection, submitted to the writer. The writer
takes whatever functions are waiting, runs each inside its own SAVEPOINT (so
one failure rolls back only itself) and commits them all in one transaction
with synchronous=FULL before any caller is answered: an acknowledged write
survives kill -9 and power loss, and many concurrent writers share one fsync.
Writers that were answered by the last two commits (each caller a thread: a
connection) usually come straight back with their next write; a batch waits for
them to be queued, at most GATHER_MAX_S and never longer than the last commit
took, so that they share the next fsync instead of splitting into two groups
that take turns (each half as large). A lone writer never waits.
Reads use a small pool of their own connections (WAL lets them run beside the
writer). watch() tells a cache, after each commit that changed one of its tables
(whoever wrote it: this node, a peer's replicated changes, a merge) and before any
writer of that commit is answered, that what it holds may be stale.
"""

import logging
import os
import queue
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from db.incarnations import begin_incarnation
from db.schema import migrate
from runtime.clock import SystemClock
from runtime.events import event
from runtime.settings import default_int

log = logging.getLogger("onsell.db")

MAX_WRITES_PER_COMMIT = 512
BUSY_TIMEOUT_MS = 10_000
MMAP_BYTES = 0  # no memory-mapped reads: mapped pages would count in the node's RSS, and the OS caches the file anyway
WAL_CHECKPOINT_PAGES = 10_000  # ~40 MiB of WAL between checkpoints: a large replica batch does not checkpoint every commit
# What the WAL file is cut back to once checkpointed: a batch of sales with random ids dirties a page per sale, so the WAL
# of an import grows to tens of MiB, and SQLite keeps a WAL file at its largest unless told.
WAL_KEPT_BYTES = 4 * 1024 * 1024
IDLE_CHECKPOINT_S = 1.0  # a writer idle this long after commits checkpoints the WAL, so the next write can cut it back
WRITE_TIMEOUT_S = 30.0
READ_WAIT_S = 30.0  # longest wait for a free reader (all READ_CONNECTIONS busy)
GATHER_MAX_S = 0.002  # longest a commit waits for its recent writers to come back (never longer than the last commit took)
TOUCHED_FUNCTION = "onsell_touched"  # what the watch() triggers call on the writer's connection with the table's name


class _Job:
    """One write waiting in the queue: its function, its caller, and a lock held until the writer has its outcome
    (a bare lock: the cheapest hand-over between two threads, one wake-up each way)."""

    __slots__ = ("fn", "caller", "done", "ok", "value")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], caller: Any = None):
        self.fn = fn
        self.caller = threading.get_ident() if caller is None else caller  # a thread: one connection's writes (see above)
        self.done = threading.Lock()
        self.done.acquire()
        self.ok, self.value = False, None

    def finish(self, ok: bool, value: Any) -> None:
        self.ok, self.value = ok, value
        self.done.release()


class DatabaseUnavailable(Exception):
    """The database could not complete the operation (closed, disk error, timeout)."""


def connect(path: Path, cache_kib: int) -> sqlite3.Connection:
    """A connection with the node's pragmas and a page cache of at most cache_kib KiB."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_KEPT_BYTES}")
    return conn


def warn_if_others_can_read(*paths: Path) -> None:
    """A folder or file made by an earlier version, or by hand, may be open to others: say so (it holds PIN hashes
    or the cluster secret), without refusing to start. Paths that do not exist are skipped."""
    for path in paths:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            wanted = "700" if path.is_dir() else "600"
            log.warning("%s", event("readable_by_others", f"{path} is open to other users (mode {mode:o}): it holds PIN hashes "
                                    f"or secrets; chmod {wanted} it", name=path.name, mode=f"{mode:o}").line())


class Database:
    """One SQLite file: write(fn) through the group-commit writer, read(fn) from the pool."""

    def __init__(self, path: Path | str, node_id: int = 1, read_connections: int = default_int("READ_CONNECTIONS"),
                 page_cache_mb: int = default_int("PAGE_CACHE_MB")):
        """read_connections and page_cache_mb: the settings READ_CONNECTIONS and PAGE_CACHE_MB (runtime/settings.py);
        the page cache is shared out evenly among the writer and the readers."""
        self.path = Path(path)
        self.read_connections = read_connections
        cache_kib = page_cache_mb * 1024 // (read_connections + 1)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():  # readable only by its owner; SQLite gives its -wal and -shm files the same mode
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        warn_if_others_can_read(self.path.parent, self.path)
        self._writer_conn = connect(self.path, cache_kib)
        mode = self._writer_conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise DatabaseUnavailable(f"could not switch {self.path} to WAL mode")
        migrate(self._writer_conn, node_id)
        with self._writer_conn:  # a new incarnation each time the file is opened (db.incarnations)
            self._writer_conn.execute("BEGIN IMMEDIATE")
            self.incarnation = begin_incarnation(self._writer_conn, node_id)
        self.after_commit: list[Callable[[sqlite3.Connection], None]] = []
        self.on_error: list[Callable[[BaseException], None]] = []  # told of every SQLite error (server.integrity checks the file)
        self.after_batch: list[Callable[[int], None]] = []  # called with how many writes each commit held (metrics)
        self._watchers: list[tuple[frozenset[str], Callable[[], None]]] = []
        self._touched: set[str] = set()  # tables changed by the transaction under way (the writer thread's only)
        self._writer_conn.create_function(TOUCHED_FUNCTION, 1, self._touched.add)
        self._jobs: queue.Queue = queue.Queue()
        self._readers: queue.Queue = queue.Queue()
        for _ in range(read_connections):
            reader = connect(self.path, cache_kib)
            reader.execute("PRAGMA query_only = ON")
            self._readers.put(reader)
        self._closed = False
        self.commits = 0
        self.commits_written = 0  # commits that changed a row (one of nothing but failed or idle writes writes no page)
        self._clock = SystemClock()
        self._recent_writers: tuple[set[int], set[int]] = (set(), set())  # the callers of the last two batches
        self._last_commit_s = 0.0
        self._checkpoint_due = False  # commits since the writer last checkpointed while idle
        self._thread = threading.Thread(target=self._write_loop, name="db-writer", daemon=True)
        self._thread.start()

    def write(self, fn: Callable[[sqlite3.Connection], Any], timeout: float = WRITE_TIMEOUT_S, caller: Any = None) -> Any:
        """Run fn(conn) in the next group commit and return its result once durable. caller: whom the batch gathering
        counts the write for when not this thread (server.ledger.WriteGroup: its writes come back as one, gathered by it)."""
        if self._closed:
            raise DatabaseUnavailable("database is closed")
        job = _Job(fn, caller)
        self._jobs.put(job)
        if not job.done.acquire(timeout=timeout):
            raise DatabaseUnavailable("the write did not complete in time")
        if job.ok:
            return job.value
        raise job.value

    def watch(self, tables: tuple[str, ...], listener: Callable[[], None]) -> None:
        """Call listener() after every commit that inserted, updated or deleted a row of one of these tables (also one
        that failed: harmless), before the writers of that commit are answered. Temporary triggers on the writer's
        connection see every write, whatever code path made it; a table that does not exist is an error here."""
        def install(conn: sqlite3.Connection) -> None:
            for table in tables:
                for operation in ("INSERT", "UPDATE", "DELETE"):
                    conn.execute(f"CREATE TEMP TRIGGER IF NOT EXISTS watch_{table}_{operation.lower()} AFTER {operation} "
                                 f"ON main.{table} BEGIN SELECT {TOUCHED_FUNCTION}('{table}'); END")
        self.write(install)
        self._watchers.append((frozenset(tables), listener))

    def _tell_watchers(self) -> None:
        if not self._touched:
            return
        touched = frozenset(self._touched)
        self._touched.clear()
        for tables, listener in self._watchers:
            if tables & touched:
                listener()

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection from the pool, returned afterwards; DatabaseUnavailable once closed."""
        if self._closed:
            raise DatabaseUnavailable("database is closed")
        try:
            conn = self._readers.get(timeout=READ_WAIT_S)
        except queue.Empty:
            raise DatabaseUnavailable("no reader free in time") from None
        if conn is None:
            self._readers.put(None)  # for the next one waiting
            raise DatabaseUnavailable("database is closed")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._closed:
                conn.close()  # closed while in use: not returned to a pool nobody will drain
            else:
                self._readers.put(conn)

    def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run fn(conn) on a pooled reader inside one snapshot."""
        with self.reader() as conn:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            except sqlite3.DatabaseError as exc:
                self._report(exc)
                raise
            finally:
                conn.execute("ROLLBACK")

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=WRITE_TIMEOUT_S)
        while not self._readers.empty():
            reader = self._readers.get_nowait()
            if reader is not None:
                reader.close()
        for _ in range(self.read_connections):
            self._readers.put(None)  # wakes a reader still waiting for a connection: the database is closed

    def _report(self, exc: BaseException) -> None:
        for listener in self.on_error:
            try:
                listener(exc)
            except Exception:  # a listener must not turn one error into two
                log.exception("an error listener failed")

    def _next_batch(self) -> list | None:
        try:
            first = self._jobs.get(timeout=IDLE_CHECKPOINT_S) if self._checkpoint_due else self._jobs.get()
        except queue.Empty:
            self._checkpoint_when_idle()
            first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        expected = len(self._recent_writers[0] | self._recent_writers[1])
        deadline = self._clock.monotonic_s() + min(GATHER_MAX_S, self._last_commit_s)
        while len(batch) < MAX_WRITES_PER_COMMIT:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                wait_s = deadline - self._clock.monotonic_s()
                if len(batch) >= expected or wait_s <= 0:
                    break
                try:
                    job = self._jobs.get(timeout=wait_s)
                except queue.Empty:
                    break
            if job is None:
                self._jobs.put(None)  # finish this batch, then stop
                break
            batch.append(job)
        return batch

    def _checkpoint_when_idle(self) -> None:
        """Copy the WAL into the file while nobody writes and cut the WAL file to nothing (TRUNCATE), without waiting
        for a reader: when one still reads the WAL, this gives up at once and the next checkpoint or write (which cuts
        the WAL back to WAL_KEPT_BYTES) does it. A failure is only reported: it changes nothing."""
        self._checkpoint_due = False
        conn = self._writer_conn
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            self._report(exc)

    def _write_loop(self) -> None:
        conn = self._writer_conn
        while True:
            batch = self._next_batch()
            if batch is None:
                conn.close()
                return
            started = self._clock.monotonic_s()
            self._commit_batch(conn, batch)
            self._checkpoint_due = True
            self._last_commit_s = self._clock.monotonic_s() - started
            self._recent_writers = ({job.caller for job in batch}, self._recent_writers[0])

    def _commit_batch(self, conn: sqlite3.Connection, batch: list) -> None:
        outcomes: list[tuple[_Job, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            wrote = False  # a row changed by a write that stays: the commit then writes to the disk
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    changes = conn.total_changes
                    outcomes.append((job, True, job.fn(conn)))
                    conn.execute("RELEASE job")
                    wrote = wrote or conn.total_changes != changes
                except Exception as exc:  # one bad write must not sink the others
                    if isinstance(exc, sqlite3.DatabaseError):
                        self._report(exc)
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, False, exc))
            conn.execute("COMMIT")
            self._tell_watchers()
            self.commits += 1
            self.commits_written += wrote
            for observe in self.after_batch:
                observe(len(batch))
            for listener in self.after_commit:  # before anyone is answered: what they wrote is visible
                listener(conn)
        except sqlite3.Error as exc:
            log.error("group commit of %d writes failed: %s", len(batch), exc)
            self._report(exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._tell_watchers()
            for job in batch:
                job.finish(False, DatabaseUnavailable(f"database error: {exc}"))
            return
        for job, ok, value in outcomes:
            job.finish(ok, value)
