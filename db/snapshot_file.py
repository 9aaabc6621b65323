"""A database file as a snapshot, at the file level: nothing here reads a table's layout but node_state's.

- make_copy: a consistent copy of a live database beside it, without blocking its writer: SQLite's online backup from
  a connection of its own, in a single step, so the whole copy is read inside one read transaction (WAL lets the
  writer go on meanwhile; a backup in several steps would start over at every commit of the writer). The copy is
  switched to a rollback journal, so it is one self-contained file, and hashed (sha256).
- make_own: a received copy made the receiver's: node_state (epoch, counters, the storage probe: db/node_state.py) is
  cleared and says which node the snapshot came from. Incarnations need nothing: db.Database draws a new one for this
  node each time it opens the file.
- install: the verified copy renamed into place (fsynced, with stray -wal/-shm/-journal files of no database removed
  first: applied to the new file they would corrupt it).
"""

import hashlib
import os
import sqlite3
from pathlib import Path

from db.node_state import reset_node_state, save_snapshot_origin

COPY_INFIX = ".copy-"  # node-N.db.copy-<id>: a copy a node serves to a peer
PART_INFIX = ".part-"  # node-N.db.part-<peer>-<id>: a copy a node receives
BUSY_TIMEOUT_S = 10.0


def new_file(path: Path) -> None:
    """Create `path` empty, readable only by its owner (FileExistsError when it exists)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def make_copy(source: Path, target: Path) -> tuple[int, str]:
    """Copy the live database `source` into the new file `target` (mode 0600); (its size, its sha256)."""
    new_file(target)
    src = sqlite3.connect(str(source), timeout=BUSY_TIMEOUT_S)
    dst = sqlite3.connect(str(target), timeout=BUSY_TIMEOUT_S)
    try:
        src.execute("PRAGMA query_only = ON")
        src.backup(dst, pages=-1)  # one step: one read transaction, the writer never waits for it
        dst.execute("PRAGMA journal_mode = DELETE")  # the backup copied the source's WAL mark: one self-contained file
    finally:
        dst.close()
        src.close()
    return target.stat().st_size, sha256_of(target)


def make_own(path: Path, from_node: int) -> None:
    """Clear the sender's node-local state in the received copy and note where it came from and its size."""
    size = path.stat().st_size
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("BEGIN IMMEDIATE")
        reset_node_state(conn)
        save_snapshot_origin(conn, from_node, size)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(part: Path, final: Path) -> None:
    """Rename the verified copy `part` to `final` (which must not exist), durably."""
    for suffix in ("-wal", "-shm", "-journal"):
        final.with_name(final.name + suffix).unlink(missing_ok=True)
    _fsync(part)
    os.replace(part, final)
    _fsync(final.parent)


def remove(path: Path) -> None:
    """Remove a copy and any journal SQLite left beside it."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def leftovers(database: Path, infix: str) -> list[Path]:
    """Copies of `database` (COPY_INFIX or PART_INFIX) left in its folder, without their journals."""
    prefix = database.name + infix
    return sorted(p for p in database.parent.glob(prefix + "*") if not p.name.endswith(("-wal", "-shm", "-journal")))
