"""PINs are stored only as salted scrypt hashes: "scrypt$n$r$p$salt_hex$hash_hex".

The one rule for both sides: the server keeps an account's PIN this way, and a till keeps the verifier of a seller who
may sign in there with no server up (client/offline.py)."""

import hashlib
import hmac
import os

SCRYPT_N = 2**14  # ~16 MiB and a few tens of ms per check: slow for guessing, fine for a till
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32


def hash_pin(pin: str) -> str:
    """A new salted scrypt hash of the PIN."""
    salt = os.urandom(SALT_BYTES)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """True when the PIN matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=256 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)
