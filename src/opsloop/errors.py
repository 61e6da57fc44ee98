"""Errors that say what is wrong and where, so a user can fix their input."""

from __future__ import annotations


class OpsloopError(Exception):
    """Base of every error opsloop raises on purpose.

    Attributes:
        where: the place the problem is (a file:line:column, a JSON path, a field).
    """

    status_code = 400

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InvalidInputError(OpsloopError):
    """User input (API body, CLI argument, file, rule) is malformed; nothing was changed."""


class NotFoundError(OpsloopError):
    status_code = 404


class ForbiddenError(OpsloopError):
    status_code = 403


class ConflictError(OpsloopError):
    status_code = 409
