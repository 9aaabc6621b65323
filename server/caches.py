"""What every authenticated call and every sale reads, kept in memory: the caller's account and the store.

Without it each sales.record read the user and the store through the reader pool (two snapshots, five
statements) before its write. Entries stay until a commit changes a row of users, stores or networks,
whoever made it (this node's writes, a peer's replicated changes, a merge: db.database.Database.watch),
and that commit's writers are answered only after the entries are gone: a deactivated user, a changed PIN,
a closed store or a seller's new stores count from the next call on.

A read that began before such a commit may return what was true before it; it is handed to its caller but
not kept (the generation it started in has passed), so nothing stale outlives the commit that changed it.
Only rows that exist are kept (an unknown id from the wire fills nothing), at most MAX_CACHED_ROWS.
"""

import threading
from typing import Any, Callable

from db.catalogue import CatalogueRepository
from db.database import Database
from db.users import Account, UserRepository
from models.records import Store

MAX_CACHED_ROWS = 10_000  # accounts and stores together (thousands of sellers, hundreds of stores); when full it starts empty
WATCHED_TABLES = ("users", "stores", "networks")  # what the cached rows are read from (db.users, db.catalogue)


class RowCache:
    """Rows by key, dropped all at once by clear(); a load that overlapped a clear() is not kept."""

    def __init__(self, max_entries: int = MAX_CACHED_ROWS):
        self.max_entries = max_entries
        self._entries: dict[Any, Any] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key, load: Callable[[], Any]) -> Any:
        """The cached row, or load()'s (kept unless None or a clear() came meanwhile)."""
        found = self._entries.get(key)
        if found is not None:
            return found
        with self._lock:
            generation = self._generation
        value = load()
        if value is not None:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= self.max_entries:
                        self._entries.clear()
                    self._entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


class Directory:
    """Accounts and stores as the repositories read them (same names: it stands in for them), through one RowCache
    cleared by the database's watch."""

    def __init__(self, database: Database, users: UserRepository, catalogue: CatalogueRepository):
        self.users = users
        self.catalogue = catalogue
        self.rows = RowCache()
        database.watch(WATCHED_TABLES, self.rows.clear)

    def account(self, user_id: str) -> Account | None:
        return self.rows.get(("account", user_id), lambda: self.users.account(user_id))

    def get_store(self, store_id: str) -> Store | None:
        return self.rows.get(("store", store_id), lambda: self.catalogue.get_store(store_id))
