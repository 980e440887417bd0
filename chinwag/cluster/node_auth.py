"""Node-to-node authentication: a per-request signature instead of the cluster secret itself.

A relaying node sends `X-Chinwag-Node-Key: v1.<unix time>.<hex HMAC-SHA256>` over the time, the
method, the target (path and query, as sent) and the request id (`X-Request-Id`, sent with every
relay). The secret never leaves the node, so a wrong or hostile CHINWAG_NODE_URL (a stale DNS
name now pointing elsewhere) learns one signature, not the key to call every node as a peer.
That signature is refused on any other method, path, query or request id, and everywhere once
`WINDOW_SECONDS` (30 s) from its time have passed on the checking node's wall clock: the nodes'
clocks must agree to well within that window (NTP; the leases already need it).

The body is not signed, on purpose. The key is checked before the body is read (the workers'
internal listener and the app's first hook), so hashing it would mean buffering up to the body
cap for a caller not yet authenticated; and it would protect nothing the signature is for: a
relayed request carries the caller's own credentials, which alone authorise what it does, while
the node key only says "a node of this cluster sent this, do not relay it again". Within the
window a captured signature replays only the exact same request line and request id.
"""

from __future__ import annotations

import hashlib
import hmac

VERSION = b"v1"
WINDOW_SECONDS = 30
_MAX_TIME_DIGITS = 12
_DIGEST_HEX = 64


def _mac(secret: str, stamp: bytes, method: bytes, target: bytes, rid: bytes) -> bytes:
    # NUL separates the parts: it cannot occur in a method, request target or header value.
    message = b"\0".join((b"chinwag-node-key", VERSION, stamp, method, target, rid))
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()


def sign(secret: str, now: float, method: bytes, target: bytes, rid: bytes) -> bytes:
    """The node-key header value for one request sent at Unix time `now`."""
    stamp = b"%d" % int(now)
    return b".".join((VERSION, stamp, _mac(secret, stamp, method, target, rid)))


def verify(
    secret: str, presented: bytes, now: float, method: bytes, target: bytes, rid: bytes
) -> bool:
    """Whether `presented` signs exactly this request and its time is within the window."""
    if not secret:
        return False
    parts = presented.split(b".")
    if len(parts) != 3 or parts[0] != VERSION:
        return False
    stamp, digest = parts[1], parts[2]
    if not stamp.isdigit() or len(stamp) > _MAX_TIME_DIGITS or len(digest) != _DIGEST_HEX:
        return False
    if abs(now - int(stamp)) > WINDOW_SECONDS:
        return False
    return hmac.compare_digest(digest, _mac(secret, stamp, method, target, rid))
