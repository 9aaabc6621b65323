"""The storage watch's rule (server/storage_watch.py) with a fake clock and a fake probe: when a node counts as unfit for
the coordinator's role, and that it tells the election once each way; and the ledger's probe on a real database."""

import sqlite3
import threading

import pytest
from support import wait_until

from db.database import Database, DatabaseUnavailable
from runtime.clock import FakeClock
from server.ledger import StorageProbe
from server.storage_watch import PROBE_MS, StorageHealth, StorageWatch

STEPDOWN_MS = 2000


def test_storage_is_unfit_only_after_failing_for_the_whole_stepdown_time_and_fit_at_the_next_success():
    health = StorageHealth(STEPDOWN_MS)
    assert health.failed("disk I/O error", now=0) is False
    assert health.failed("disk I/O error", now=STEPDOWN_MS - 1) is False and not health.unfit
    assert health.failed("disk I/O error", now=STEPDOWN_MS) is True and health.unfit
    assert health.failed("disk I/O error", now=STEPDOWN_MS + 250) is False  # said once
    assert health.succeeded(now=STEPDOWN_MS + 500) is True and not health.unfit
    assert health.succeeded(now=STEPDOWN_MS + 750) is False


def test_a_success_in_between_starts_the_count_again():
    health = StorageHealth(STEPDOWN_MS)
    health.failed("disk I/O error", now=0)
    health.succeeded(now=1500)
    assert health.failed("database or disk is full", now=1600) is False
    assert health.failed("database or disk is full", now=1600 + STEPDOWN_MS - 1) is False
    assert health.failed("database or disk is full", now=1600 + STEPDOWN_MS) is True


class FakeElection:
    def __init__(self):
        self.calls: list[str | None] = []

    def set_unfit(self, reason):
        self.calls.append(reason)


class FlakyProbe:
    def __init__(self):
        self.failing = False

    def __call__(self, timeout_s: float) -> None:
        if self.failing:
            raise DatabaseUnavailable("database error: disk I/O error")


def test_the_watch_tells_the_election_once_when_storage_fails_long_enough_and_once_when_it_works(caplog):
    clock, election, probe = FakeClock(), FakeElection(), FlakyProbe()
    watch = StorageWatch(probe, election, clock, STEPDOWN_MS)
    watch.check()
    probe.failing = True
    for _ in range(STEPDOWN_MS // PROBE_MS + 4):
        clock.advance(PROBE_MS / 1000)
        watch.check()
    assert election.calls == ["storage"] and watch.stepped_down == "storage"
    assert [r.levelname for r in caplog.records if "stepped_aside" in r.getMessage()] == ["ERROR"]
    probe.failing = False
    watch.check()
    watch.check()
    assert election.calls == ["storage", None] and watch.stepped_down is None


def test_the_probe_writes_and_reads_back_and_fails_when_writes_fail(tmp_path):
    database = Database(tmp_path / "node.db")
    try:
        probe = StorageProbe(database)
        probe(1.0)
        probe(1.0)
        database.write(lambda conn: conn.execute("CREATE TEMP TRIGGER no_writes BEFORE UPDATE ON node_state "
                                                 "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"))
        for _ in range(3):  # commits that change no row (a write that fails, one that finds nothing to do) prove nothing
            with pytest.raises(sqlite3.IntegrityError):
                database.write(lambda conn: conn.execute("INSERT INTO node_state (key, value) VALUES ('x', NULL)"))
            database.write(lambda conn: conn.execute("SELECT 1").fetchall())
            with pytest.raises((DatabaseUnavailable, sqlite3.Error)):
                probe(1.0)
    finally:
        database.close()


def test_a_long_write_ahead_of_the_probe_is_not_a_hung_disk_but_a_stuck_writer_is(tmp_path):
    """A write that holds the writer longer than the probe's timeout (a group of imports at 10 M sales) fails one probe;
    once it commits, the next probe passes while the writer is held by the next long write (before: it failed every
    probe, and after STORAGE_FAILURE_STEPDOWN_S the coordinator stepped aside in the middle of an import). With no
    commit since, the probe fails again."""
    database = Database(tmp_path / "node.db")
    gates = [threading.Event(), threading.Event()]
    held = threading.Event()  # the writer is inside one of the long writes
    writes: list[threading.Thread] = []
    try:
        probe = StorageProbe(database)
        probe(1.0)
        def long_write(conn, gate: threading.Event) -> None:
            conn.execute("INSERT INTO node_state (key, value) VALUES (?, 1)", (f"long write {id(gate)}",))
            held.set()
            gate.wait(20)
        writes = [threading.Thread(target=database.write, args=(lambda conn, gate=gate: long_write(conn, gate),), daemon=True)
                  for gate in gates]
        writes[0].start()
        assert held.wait(5), "the writer never started the first long write"
        writes[1].start()
        wait_until(lambda: database._jobs.qsize() == 1, 5, what="the second long write queued")
        with pytest.raises(DatabaseUnavailable):
            probe(0.2)  # the writer is held: no commit since the last probe
        commits = database.commits_written
        gates[0].set()
        wait_until(lambda: database.commits_written > commits, 5, what="the first long write committed")
        probe(0.2)  # the writer is held by the second long write, but committed since: the storage works
        with pytest.raises(DatabaseUnavailable):
            probe(0.2)
    finally:
        for gate in gates:
            gate.set()
        for write in writes:
            if write.is_alive():
                write.join(10)
        database.close()
