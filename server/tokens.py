"""Signed bearer tokens: "v1.<payload>.<signature>", base64url, HMAC-SHA256 with the cluster secret.

The payload names the user, role, expiry (Unix seconds) and the account's
credential version when it was issued (db.users: a PIN change or reset, a
deactivation or reactivation changes it, and server.accounts then refuses the
token). Nothing is kept per connection or per node, so a token issued by one
node is valid on every node that shares the secret. Time is always passed in.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

TOKEN_VERSION = "v1"
TOKEN_TTL_S = 12 * 3600
MAX_VERIFIED_TOKENS = 10_000  # claims of tokens already verified, kept (a till sends the same token on every call)


class InvalidToken(Exception):
    """The token is malformed, forged or expired; str() says which, `detail` is "expired" or "invalid"."""

    def __init__(self, message: str, detail: str = "invalid"):
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Claims:
    user_id: str
    role: str
    name: str
    expires_at: int
    credential_version: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: bytes, ttl_s: int = TOKEN_TTL_S):
        self._secret = secret
        self.ttl_s = ttl_s
        # A token's claims follow from its text and the secret alone, so a verified one need not be checked again
        # (only its expiry, each time). Only tokens whose signature held are kept: the wire cannot fill this.
        self._verified: dict[str, Claims] = {}

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, f"{TOKEN_VERSION}.{payload}".encode(), hashlib.sha256).digest())

    def issue(self, user_id: str, role: str, name: str, now_s: float, credential_version: str = "") -> str:
        """A token for this user that expires ttl_s after now_s."""
        body = {"sub": user_id, "role": role, "name": name, "exp": int(now_s) + self.ttl_s, "cv": credential_version}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{TOKEN_VERSION}.{payload}.{self._sign(payload)}"

    def verify(self, token: object, now_s: float) -> Claims:
        """The token's claims; InvalidToken when forged, malformed or expired at now_s."""
        claims = self._verified.get(token) if isinstance(token, str) else None
        if claims is None:
            claims = self._check(token)
            if len(self._verified) >= MAX_VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        if now_s >= claims.expires_at:
            raise InvalidToken("token expired", "expired")
        return claims

    def _check(self, token: object) -> Claims:
        """The claims of a token signed with this secret; InvalidToken when forged or malformed."""
        if not isinstance(token, str) or not token.isascii() or token.count(".") != 2:
            raise InvalidToken("malformed token")
        version, payload, signature = token.split(".")
        if version != TOKEN_VERSION or not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidToken("bad signature")
        try:
            body = json.loads(_unb64(payload))
            claims = Claims(str(body["sub"]), str(body["role"]), str(body["name"]), int(body["exp"]), str(body.get("cv", "")))
        except (ValueError, KeyError, TypeError):
            raise InvalidToken("malformed token") from None
        return claims
