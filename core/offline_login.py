"""A password check for working offline with the cache of an earlier login.

The cache keeps a salted scrypt digest of the password from the last online login,
so the person at the desk proves they know it before reading cached data.
"""

from __future__ import annotations

import hashlib
import hmac
import os


def make_verifier(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_verifier(verifier: str | None, password: str) -> bool:
    if not verifier:
        return False
    try:
        scheme, salt_hex, digest_hex = verifier.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)
