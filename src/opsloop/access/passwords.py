"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from opsloop.errors import InvalidInputError

_HASHER = PasswordHasher()
MIN_LENGTH = 12
# Verified against when the user does not exist, so timing does not reveal usernames.
DUMMY_HASH = _HASHER.hash("opsloop-no-such-user-dummy")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_policy(password: str, *, username: str) -> None:
    """At least 12 characters, three of four character classes, not the username.

    Raises:
        InvalidInputError: the password is too weak (``where="password"``).
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        problems.append("three of: lower case, upper case, digit, symbol")
    if username and username.lower() in password.lower():
        problems.append("not containing the username")
    if problems:
        raise InvalidInputError("password needs " + ", ".join(problems), where="password")
