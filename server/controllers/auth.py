"""Sign-in, self-registration, user creation by managers, and changing one's own PIN."""

import functools
import logging
import threading
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Callable

from db.errors import AlreadyExists
from db.users import UserRepository, read_account
from models.documents import parse_cpf
from models.people import MANAGER, SELLER, parse_birth_year, parse_name, parse_new_pin, parse_pin, parse_role
from models.pins import hash_pin, verify_pin
from models.records import User, new_id
from runtime.clock import iso_utc
from server.controllers.present import user_json
from server.dispatch import ANY_ROLE, Method, Param
from server.ledger import Ledger
from server.login_throttle import LoginThrottle
from server.tokens import TokenSigner
from wire.errors import ALREADY_EXISTS, BAD_CREDENTIALS, FORBIDDEN, INACTIVE, RATE_LIMITED, UNKNOWN_USER, app_error

log = logging.getLogger("onsell.auth")


@functools.cache
def unknown_cpf_hash() -> str:
    """Checked against when a CPF has no account, so that costs what a wrong PIN costs. Made once, at the controller's
    start in a thread of its own: an scrypt hash at import would delay every node's first answer."""
    return hash_pin("0000")


class AuthController:
    def __init__(self, ledger: Ledger, users: UserRepository, tokens: TokenSigner, throttle: LoginThrottle, clock,
                 require_quorum: Callable[[], None], self_registration: bool = True, void_window_s: float = 30 * 60):
        """require_quorum: returns when this coordinator reaches a majority of the nodes, else raises no_quorum
        (server.quorum); creating an account asks it first."""
        self.require_quorum = require_quorum
        self.ledger = ledger
        self.users = users
        self.tokens = tokens
        self.throttle = throttle
        self.clock = clock
        self.self_registration = self_registration
        self.void_window_s = void_window_s
        threading.Thread(target=unknown_cpf_hash, name="unknown-cpf-hash", daemon=True).start()

    def methods(self) -> list[Method]:
        person = (
            Param("cpf", parse_cpf),
            Param("name", parse_name),
            Param("birth_year", self.birth_year),
            Param("pin", parse_new_pin),
        )
        return [
            Method("auth.login", self.login, (Param("cpf", parse_cpf), Param("pin", parse_pin)), wants_source=True),
            Method("auth.register", self.register, person, wants_source=True),
            Method("auth.change_pin", self.change_pin, (Param("old_pin", lambda v: parse_pin(v, "old_pin")),
                                                        Param("new_pin", lambda v: parse_new_pin(v, "new_pin"))), role=ANY_ROLE,
                   wants_source=True),
            Method("users.create", self.create_user, person + (Param("role", parse_role),), role=MANAGER),
            Method("auth.me", self.me, role=ANY_ROLE),
        ]

    def me(self, caller) -> dict:
        """The signed-in person as they are now (a till refreshes the seller's stores with it)."""
        return {"user": user_json(self.users.find_by_id(caller.user_id))}

    def birth_year(self, value) -> int:
        return parse_birth_year(value, self.clock.now().year)

    def login(self, caller, cpf: str, pin: str, source: str = "") -> dict:
        """A token for the right CPF and PIN; rate_limited after too many wrong PINs (server.login_throttle)."""
        with self._attempt(cpf, source) as outcome:
            found = self.users.find_by_cpf(cpf)
            if found is None:
                verify_pin(pin, unknown_cpf_hash())  # as long as a wrong PIN takes: the answer time does not tell CPFs apart
                outcome.right = False
                raise app_error(UNKNOWN_USER, "No account has this CPF")
            user, pin_hash, credential_version = found
            if not pin_hash:
                raise app_error(BAD_CREDENTIALS, "No PIN is set for this account: a manager must set one", pin_not_set=True)
            self._check_pin(outcome, pin, pin_hash, user)
        if not user.active:
            raise app_error(INACTIVE, "This account is deactivated", field="cpf")
        log.debug("sign-in: user %s (%s)", user.id, user.role)  # ids only, at DEBUG: no personal data in the log at INFO
        token = self.tokens.issue(user.id, user.role, user.name, self.clock.wall_s(), credential_version)
        return {"token": token, "user": user_json(user), "void_window_minutes": int(self.void_window_s // 60)}

    @contextmanager
    def _attempt(self, cpf: str, source: str):
        """Admit a sign-in attempt before any PIN is checked (rate_limited, no PIN checked, when throttled) and settle
        it after, whatever happens in between; the body sets outcome.right."""
        wait_s = self.throttle.begin(cpf, source, self.clock.monotonic_s())
        if wait_s > 0:
            log.warning("sign-in refused from %s: throttled for %.0f s more", source or "-", wait_s)
            raise app_error(RATE_LIMITED, "Too many wrong PINs: try again later", retry_after_s=int(wait_s) + 1)
        outcome = SimpleNamespace(right=None)
        try:
            yield outcome
        finally:
            self.throttle.finish(cpf, source, outcome.right, self.clock.monotonic_s())

    @staticmethod
    def _check_pin(outcome, pin: str, pin_hash: str, user: User) -> None:
        outcome.right = verify_pin(pin, pin_hash)
        if not outcome.right:
            log.info("sign-in failed: wrong PIN for user %s", user.id)
            raise app_error(BAD_CREDENTIALS, "Wrong CPF or PIN")

    def change_pin(self, caller, old_pin: str, new_pin: str, source: str = "") -> dict:
        """The caller sets a new PIN; every token issued before is refused, and a new one is answered."""
        user = self.users.find_by_id(caller.user_id)
        found = self.users.find_by_cpf(user.cpf)
        with self._attempt(user.cpf, source) as outcome:
            self._check_pin(outcome, old_pin, found[1], user)
        pin_hash, now_ms = hash_pin(new_pin), self.clock.wall_ms()

        def write(conn, stamp) -> str:  # the version is read in the write: a reset committed just after must win
            UserRepository.set_pin_hash(conn, user.id, pin_hash, stamp, now_ms)
            return read_account(conn, user.id).credential_version
        credential_version = self.ledger.commit(write)[0]
        log.info("PIN changed by user %s", user.id)
        return {"token": self.tokens.issue(user.id, user.role, user.name, self.clock.wall_s(), credential_version)}

    def register(self, caller, cpf: str, name: str, birth_year: int, pin: str, source: str = "") -> dict:
        """Self-registration: always a seller, unless SELF_REGISTRATION is off; REGISTER_MAX_PER_SOURCE attempts per
        address within 15 minutes (counted before anything is checked: taken CPFs cannot be probed faster)."""
        if not self.self_registration:
            raise app_error(FORBIDDEN, "Self-registration is off: a manager creates accounts", reason="self_registration_off")
        self.require_quorum()  # before the attempt is counted: a refusal for want of a majority costs the address nothing
        wait_s = self.throttle.admit_registration(source, self.clock.monotonic_s())
        if wait_s > 0:
            log.warning("registration refused from %s: %.0f s until its address may try again", source or "-", wait_s)
            raise app_error(RATE_LIMITED, "Too many registrations from this address: try again later",
                            retry_after_s=int(wait_s) + 1, limit="registrations")
        return {"user": user_json(self._create(cpf, name, birth_year, pin, SELLER, "self-registration"))}

    def create_user(self, caller, cpf: str, name: str, birth_year: int, pin: str, role: str) -> dict:
        """A manager creates a seller or a manager."""
        self.require_quorum()
        return {"user": user_json(self._create(cpf, name, birth_year, pin, role, f"created by user {caller.user_id}"))}

    def _create(self, cpf: str, name: str, birth_year: int, pin: str, role: str, how: str) -> User:
        user = User(new_id(), cpf, name, birth_year, role)
        pin_hash, created_at, now_ms = hash_pin(pin), iso_utc(self.clock.now()), self.clock.wall_ms()
        try:
            self.ledger.commit(lambda conn, stamp: UserRepository.insert(conn, user, pin_hash, created_at, stamp, now_ms))
        except AlreadyExists:
            raise app_error(ALREADY_EXISTS, "This CPF already has an account", field="cpf") from None
        log.info("new %s: user %s (%s)", role, user.id, how)
        return user
