"""Sign-in, self-registration and user creation by managers."""

import logging

from db.errors import AlreadyExists
from db.users import UserRepository
from models.documents import parse_cpf
from models.people import MANAGER, SELLER, parse_birth_year, parse_name, parse_pin, parse_role
from models.records import User, new_id
from runtime.clock import iso_utc
from server.controllers.present import user_json
from server.dispatch import Method, Param
from server.ledger import Ledger
from server.login_throttle import LoginThrottle
from server.pins import hash_pin, verify_pin
from server.tokens import TokenSigner
from wire.errors import ALREADY_EXISTS, BAD_CREDENTIALS, RATE_LIMITED, UNKNOWN_USER, app_error

log = logging.getLogger("onsell.auth")


class AuthController:
    def __init__(self, ledger: Ledger, users: UserRepository, tokens: TokenSigner, throttle: LoginThrottle, clock):
        self.ledger = ledger
        self.users = users
        self.tokens = tokens
        self.throttle = throttle
        self.clock = clock

    def methods(self) -> list[Method]:
        person = (
            Param("cpf", parse_cpf),
            Param("name", parse_name),
            Param("birth_year", self._birth_year),
            Param("pin", parse_pin),
        )
        return [
            Method("auth.login", self.login, (Param("cpf", parse_cpf), Param("pin", parse_pin))),
            Method("auth.register", self.register, person),
            Method("users.create", self.create_user, person + (Param("role", parse_role),), role=MANAGER),
        ]

    def _birth_year(self, value) -> int:
        return parse_birth_year(value, self.clock.now().year)

    def login(self, caller, cpf: str, pin: str) -> dict:
        """A token for the right CPF and PIN; rate_limited after too many wrong PINs."""
        wait_s = self.throttle.locked_for(cpf, self.clock.monotonic_s())
        if wait_s > 0:
            log.warning("sign-in refused for CPF ***%s: locked for %.0f s more", cpf[-4:], wait_s)
            raise app_error(RATE_LIMITED, "Too many wrong PINs: try again later", retry_after_s=int(wait_s) + 1)
        found = self.users.find_by_cpf(cpf)
        if found is None:
            raise app_error(UNKNOWN_USER, "No account has this CPF")
        user, pin_hash = found
        if not verify_pin(pin, pin_hash):
            locked = self.throttle.record_failure(cpf, self.clock.monotonic_s())
            log.warning("sign-in failed for %s (%s)%s", user.name, user.role, ": CPF now locked" if locked else "")
            raise app_error(BAD_CREDENTIALS, "Wrong CPF or PIN")
        self.throttle.record_success(cpf)
        log.info("sign-in: %s (%s)", user.name, user.role)
        token = self.tokens.issue(user.id, user.role, user.name, self.clock.wall_s())
        return {"token": token, "user": user_json(user)}

    def register(self, caller, cpf: str, name: str, birth_year: int, pin: str) -> dict:
        """Self-registration: always a seller."""
        return {"user": user_json(self._create(cpf, name, birth_year, pin, SELLER, "self-registration"))}

    def create_user(self, caller, cpf: str, name: str, birth_year: int, pin: str, role: str) -> dict:
        """A manager creates a seller or a manager."""
        return {"user": user_json(self._create(cpf, name, birth_year, pin, role, f"created by {caller.name}"))}

    def _create(self, cpf: str, name: str, birth_year: int, pin: str, role: str, how: str) -> User:
        user = User(new_id(), cpf, name, birth_year, role)
        pin_hash, created_at = hash_pin(pin), iso_utc(self.clock.now())
        try:
            self.ledger.commit(lambda conn, stamp: UserRepository.insert(conn, user, pin_hash, created_at, stamp))
        except AlreadyExists:
            raise app_error(ALREADY_EXISTS, "This CPF already has an account", field="cpf") from None
        log.info("new %s: %s (%s)", role, name, how)
        return user
