"""Access keys: `wky_` + base32(session id + HMAC-SHA256(server secret, session id)[:19]).

Nothing is stored: the key is derived, so every tag call returns the same key for the same
session, and verification is a constant-time MAC comparison plus a session lookup (a deleted or
expired session makes its key useless). 152 bits of MAC make the key unguessable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid

from chinwag.rules.bounds import ACCESS_KEY_PREFIX

PREFIX = ACCESS_KEY_PREFIX
_MAC_BYTES = 19


class AccessKeys:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, session_bytes: bytes) -> bytes:
        return hmac.new(self._secret, session_bytes, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self, session_id: str) -> str:
        raw = uuid.UUID(session_id).bytes
        encoded = base64.b32encode(raw + self._mac(raw)).decode().lower()
        return PREFIX + encoded

    def session_id(self, access_key: str) -> str | None:
        """The session id a genuine key names, or None for anything forged or malformed."""
        if not access_key.startswith(PREFIX) or len(access_key) != len(PREFIX) + 56:
            return None
        try:
            raw = base64.b32decode(access_key[len(PREFIX) :].upper())
        except (binascii.Error, ValueError):
            return None
        session_bytes, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._mac(session_bytes)):
            return None
        return str(uuid.UUID(bytes=session_bytes))


def hash_api_key(api_key: str) -> bytes:
    """Management API keys are random (high entropy), so one SHA-256 is a sound stored form."""
    return hashlib.sha256(api_key.encode()).digest()
