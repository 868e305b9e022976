"""HTTP Basic authentication (stage: server, request → user).

``--auth-file`` holds ``user:hash`` lines; hashes are bcrypt (``$2b$...``), made with
``python -c "import bcrypt;print(bcrypt.hashpw(b'pw', bcrypt.gensalt()).decode())"``.
bcrypt's own check compares in constant time; an unknown user is checked against a dummy
hash so timing does not reveal which users exist. Verified credentials are cached by their
SHA-256 so each request does not pay bcrypt's cost again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

logger = logging.getLogger(__name__)

__all__ = ["BasicAuth", "load_auth_file"]


def load_auth_file(path: str) -> dict[str, bytes]:
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep:
                raise ValueError(f"bad line in auth file {path!r}: expected user:hash")
            users[user.strip()] = hashed.strip().encode()
    return users


class BasicAuth:
    def __init__(self, users: dict[str, bytes], realm: str = "KsqlServer"):
        import bcrypt

        self._bcrypt = bcrypt
        self.users = users
        self.realm = realm
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=4))
        self._cache: dict[bytes, str] = {}

    def check(self, header: str | None) -> str | None:
        """The user name when ``header`` (the Authorization value) is valid, else None."""
        if not header or not header[:6].lower() == "basic ":
            return None
        digest = hashlib.sha256(header.encode("utf-8", "replace")).digest()
        for known, user in self._cache.items():
            if hmac.compare_digest(known, digest):
                return user
        try:
            user, sep, password = base64.b64decode(header[6:].strip(),
                                                   validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not sep:
            return None
        hashed = self.users.get(user)
        try:
            ok = self._bcrypt.checkpw(password.encode(), hashed or self._dummy)
        except ValueError:
            ok = False
        if not ok or hashed is None:
            return None
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[digest] = user
        return user
