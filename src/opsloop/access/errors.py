"""Access errors beyond the shared ones."""

from __future__ import annotations

from opsloop.errors import OpsloopError


class UnauthenticatedError(OpsloopError):
    """No valid credentials (HTTP 401); the message never says which part was wrong."""

    status_code = 401


class RateLimitedError(OpsloopError):
    status_code = 429
