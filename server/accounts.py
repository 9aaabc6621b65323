"""Who is calling: a token's claims checked, on every authenticated call, against the account as it is now.

A token is refused (1001) when its account is unknown here, deactivated, or under another credential
version than the token carries (a PIN change or reset, a deactivation or reactivation since it was issued).
Comparing versions, not times, makes a token signed a moment after a change valid and one signed a moment
before it refused, whatever the clocks say.
"""

from dataclasses import dataclass
from typing import Protocol

from db.users import Account
from server.tokens import Claims
from wire.errors import UNAUTHENTICATED, app_error

ACCOUNT_DEACTIVATED = "account_deactivated"  # data.detail of a 1001 answer (docs/protocol.md)
CREDENTIALS_CHANGED = "credentials_changed"


@dataclass(frozen=True)
class Caller:
    """The signed-in person: the account that stands for the token's user now (see db.users)."""

    user_id: str
    role: str
    name: str
    store_ids: tuple[str, ...]  # where a seller may sell; () = any store


class AccountSource(Protocol):
    """Where accounts are read: db.users.UserRepository, or server.caches.Directory in front of it."""

    def account(self, user_id: str) -> Account | None: ...


class Accounts:
    def __init__(self, users: AccountSource):
        self.users = users

    def caller(self, claims: Claims) -> Caller:
        """The caller, or 1001 with data.detail: account_deactivated or credentials_changed."""
        account = self.users.account(claims.user_id)
        if account is None:
            raise app_error(UNAUTHENTICATED, "This account does not exist here; sign in again", detail=CREDENTIALS_CHANGED)
        if not account.user.active:
            raise app_error(UNAUTHENTICATED, "This account is deactivated", detail=ACCOUNT_DEACTIVATED)
        # A token of an account merged into another (its CPF was registered twice) is refused too: the account that
        # won has its own PIN and version, which that token was never issued under.
        if account.credential_version != claims.credential_version or account.user.id != claims.user_id:
            raise app_error(UNAUTHENTICATED, "Sign in again: the PIN or the account changed since this token was issued",
                            detail=CREDENTIALS_CHANGED)
        user = account.user
        return Caller(user.id, user.role, user.name, user.store_ids)
