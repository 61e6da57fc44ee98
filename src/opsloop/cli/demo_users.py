"""Sign-in accounts for the demo bank, so a first `make run` can be explored at once.

Created only when the store has no users yet: an ``admin`` at head office and a
``branch01`` branch operator (who sees only branch B01's customers). Passwords are random,
kept in ``HOME/demo-users.txt`` (mode 0600) and printed; a real deployment creates its
own users with ``opsloop user create`` instead.
"""

from __future__ import annotations

import os
import secrets

from opsloop.access import users
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.access.schemas import UserCreate
from opsloop.settings import Settings
from opsloop.store import Store

DEMO_USERS = (("admin", "HO", "admin"), ("branch01", "B01", "branch_operator"))


def _password() -> str:
    return secrets.token_urlsafe(12) + "-Aa1"


def ensure_demo_users(settings: Settings) -> list[tuple[str, str, str]] | None:
    """Create the demo users if there are no users; returns (user, org, password) rows."""
    store = Store.open(settings.database_url)
    try:
        with store.session() as s:
            if users.list_users(session=s, limit=1):
                return None
            made = []
            for name, org, role in DEMO_USERS:
                password = _password()
                body = UserCreate(username=name, password=password, org_id=org, roles=[role])
                users.create_user(session=s, actor=LOCAL_OPERATOR, body=body)
                made.append((name, org, password))
    finally:
        store.close()
    path = settings.home / "demo-users.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{name}\t{org}\t{password}\n" for name, org, password in made)
    return made
