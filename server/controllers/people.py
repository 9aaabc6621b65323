"""People, for managers: the list, deactivation and reactivation, PIN resets, a seller's stores, and the import."""

import logging
import sqlite3
from typing import Callable

from db.changes import Stamp
from db.errors import AlreadyExists, NotFound
from db.users import UserRepository
from models.documents import parse_cpf
from models.errors import ValidationError
from models.people import MANAGER, ROLE_WORDS, ROLES, parse_birth_year, parse_name, parse_new_pin
from models.pins import hash_pin
from models.records import User, new_id, parse_uuid
from runtime.clock import iso_utc
from server.controllers.params import rows_param, uuid_param
from server.controllers.present import user_json
from server.dispatch import Method, Param
from server.ledger import Ledger
from wire.errors import FORBIDDEN, NOT_FOUND, app_error

log = logging.getLogger("onsell.people")
MAX_ASSIGNED_STORES = 1000


def _role_filter(value) -> str:
    if value not in ROLES:
        raise ValidationError("role", "must be 'seller' or 'manager'")
    return value


def _store_ids(value) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ASSIGNED_STORES:
        raise ValidationError("store_ids", f"must be a list of at most {MAX_ASSIGNED_STORES} store ids")
    return sorted({parse_uuid(v, "store_ids") for v in value})


class PeopleController:
    def __init__(self, ledger: Ledger, users: UserRepository, clock, require_quorum: Callable[[], None]):
        """require_quorum: as for AuthController; an import creates accounts, so it asks first."""
        self.require_quorum = require_quorum
        self.ledger = ledger
        self.users = users
        self.clock = clock

    def methods(self) -> list[Method]:
        user_id = uuid_param("user_id")
        return [
            Method("users.list", self.list_users, (Param("role", _role_filter, required=False),), role=MANAGER),
            Method("users.deactivate", self.deactivate, (user_id,), role=MANAGER),
            Method("users.reactivate", self.reactivate, (user_id,), role=MANAGER),
            Method("users.reset_pin", self.reset_pin, (user_id, Param("pin", parse_new_pin)), role=MANAGER),
            Method("users.assign_stores", self.assign_stores, (user_id, Param("store_ids", _store_ids)), role=MANAGER),
            Method("users.import", self.import_users, (rows_param(),), role=MANAGER),
        ]

    def list_users(self, caller, role: str | None = None) -> dict:
        return {"users": [user_json(u) for u in self.users.list_users(role)]}

    def _commit(self, write) -> dict:
        try:
            user = self.ledger.commit(write)[0]
        except NotFound as exc:
            raise app_error(NOT_FOUND, f"No such {exc.field.removesuffix('_id')}", field=exc.field) from None
        return {"user": user_json(user)}

    def deactivate(self, caller, user_id: str) -> dict:
        """Deactivate a person: no sign-in, every token of theirs refused. Never oneself, nor the last manager
        who can sign in (active, with a PIN): someone must always be able to run the chain."""
        now_ms = self.clock.wall_ms()

        def write(conn: sqlite3.Connection, stamp: Stamp) -> User:
            managers = UserRepository.managers_who_can_sign_in(conn)
            user = UserRepository.set_active(conn, user_id, False, stamp, now_ms)
            if user.id == caller.user_id:
                raise app_error(FORBIDDEN, "A manager cannot deactivate their own account", reason="own_account", field="user_id")
            if managers == [user.id]:  # checked in the write, so two managers cannot deactivate each other at once
                raise app_error(FORBIDDEN, "The last active manager cannot be deactivated", reason="last_active_manager",
                                field="user_id")
            return user
        result = self._commit(write)
        log.info("user %s deactivated by user %s", user_id, caller.user_id)
        return result

    def reactivate(self, caller, user_id: str) -> dict:
        now_ms = self.clock.wall_ms()
        return self._commit(lambda conn, stamp: UserRepository.set_active(conn, user_id, True, stamp, now_ms))

    def reset_pin(self, caller, user_id: str, pin: str) -> dict:
        """A manager sets a person's PIN (also one imported without a PIN); their older tokens are refused."""
        pin_hash, now_ms = hash_pin(pin), self.clock.wall_ms()
        result = self._commit(lambda conn, stamp: UserRepository.set_pin_hash(conn, user_id, pin_hash, stamp, now_ms))
        log.info("PIN of user %s reset by user %s", user_id, caller.user_id)
        return result

    def assign_stores(self, caller, user_id: str, store_ids: list[str]) -> dict:
        now_ms = self.clock.wall_ms()
        return self._commit(lambda conn, stamp: UserRepository.set_stores(conn, user_id, store_ids, stamp, now_ms))

    def import_users(self, caller, rows: list) -> dict:
        """Rows {cpf, name, birth_year, role, pin?}: each created, already there (same CPF) or refused; one commit.
        PINs are hashed before the commit, and only for new CPFs."""
        self.require_quorum()
        parsed = [self._parse_user_row(row) for row in rows]
        known = self.users.existing_cpfs([p["cpf"] for p in parsed if "status" not in p])
        created_at, now_ms = iso_utc(self.clock.now()), self.clock.wall_ms()
        for entry in parsed:
            if "status" not in entry and entry["cpf"] not in known:
                entry["pin_hash"] = hash_pin(entry["pin"]) if entry["pin"] else ""

        def write(conn: sqlite3.Connection, stamp: Stamp) -> list[dict]:
            return [entry if "status" in entry else _import_user(conn, stamp, entry, created_at, now_ms) for entry in parsed]
        results = self.ledger.commit(write)[0]
        log.info("users imported: %d created of %d rows", sum(r["status"] == "created" for r in results), len(rows))
        return {"results": results}

    def _parse_user_row(self, row: object) -> dict:
        if not isinstance(row, dict) or set(row) - {"cpf", "name", "birth_year", "role", "pin"}:
            return {"status": "refused", "field": "rows", "reason": "each row must be an object with cpf, name, birth_year, role, pin?"}
        try:
            role = ROLE_WORDS.get(str(row.get("role", "")).strip().casefold())
            if role is None:
                raise ValidationError("role", "must be seller or manager (vendedor or gerente)")
            pin = row.get("pin")
            return {"cpf": parse_cpf(row.get("cpf")), "name": parse_name(row.get("name")),
                    "birth_year": parse_birth_year(row.get("birth_year"), self.clock.now().year), "role": role,
                    "pin": parse_new_pin(pin) if pin not in (None, "") else None}
        except ValidationError as exc:
            return {"status": "refused", "field": exc.field, "reason": exc.reason}


def _import_user(conn: sqlite3.Connection, stamp: Stamp, row: dict, created_at: str, now_ms: int) -> dict:
    if "pin_hash" not in row:  # its CPF had an account before the import began
        return {"status": "exists", "field": "cpf"}
    user = User(new_id(), row["cpf"], row["name"], row["birth_year"], row["role"], has_pin=bool(row["pin_hash"]))
    try:
        UserRepository.insert(conn, user, row["pin_hash"], created_at, stamp, now_ms)
    except AlreadyExists:  # the same CPF twice in one import, or registered meanwhile
        return {"status": "exists", "field": "cpf"}
    return {"status": "created", "user": user_json(user)}
