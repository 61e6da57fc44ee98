"""HMAC-SHA256 signatures on webhook bodies, both directions (see docs/reach.md).

``X-Opsloop-Signature: v1=<hex>`` where ``hex = HMAC-SHA256(secret, f"{ts}.".encode() +
body)`` and ``ts`` is ``X-Opsloop-Timestamp`` (Unix seconds). Signing the timestamp
with the body lets a receiver refuse replays older than its tolerance window.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP = "X-Opsloop-Timestamp"
SIGNATURE = "X-Opsloop-Signature"
IDEMPOTENCY = "Idempotency-Key"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_s: int = 300,
) -> str | None:
    """None when the signature holds and is fresh; otherwise why not."""
    if not timestamp or not signature:
        return "missing signature headers"
    try:
        ts = int(timestamp)
    except ValueError:
        return "timestamp is not an integer"
    if abs(now - ts) > tolerance_s:
        return "timestamp outside the tolerance window"
    expected = sign(secret, ts, body)
    for candidate in signature.split(","):
        if hmac.compare_digest(candidate.strip(), expected):
            return None
    return "signature does not match"
