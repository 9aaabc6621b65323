"""A storage fault for tests, injected from outside the server's code: with this folder on PYTHONPATH and
ONSELL_TEST_STORAGE_FAULT naming a file (relative to the node's working directory, its data folder), every write
transaction fails with SQLite's own "disk I/O error" while that file exists, through the database's real error path;
reads keep working, as on a full or failing disk. Without the variable nothing changes."""

import os
import sqlite3

_FLAG = os.environ.get("ONSELL_TEST_STORAGE_FAULT")

if _FLAG:
    _connect = sqlite3.connect

    class _FailingWrites(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.lstrip().upper().startswith("BEGIN IMMEDIATE") and os.path.exists(_FLAG):
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql, *args)

    def _connect_failing(*args, **kwargs):
        kwargs.setdefault("factory", _FailingWrites)
        return _connect(*args, **kwargs)

    sqlite3.connect = _connect_failing
