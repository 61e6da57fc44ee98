"""Who is calling: one frozen value the cores receive (never a request or a session)."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsloop.access.permissions import BANK_WIDE_ONLY, BANK_WIDE_PATH


@dataclass(frozen=True)
class Principal:
    """A staff user, an API token acting for one, or the CLI's local operator.

    Attributes:
        org_path: the data scope (辖内): the caller sees customers under this path.
        rm_id: the caller's RM id; with ``own_customers_only`` they see only these customers.
    """

    id: str
    kind: str
    org_path: str = BANK_WIDE_PATH
    permissions: frozenset[str] = field(default_factory=frozenset)
    rm_id: str | None = None
    own_customers_only: bool = False
    user_id: int | None = None

    @property
    def bank_wide(self) -> bool:
        """Sees every customer of the bank (the only scope allowed raw SQL)."""
        return self.org_path == BANK_WIDE_PATH and not self.own_customers_only

    def can(self, permission: str) -> bool:
        if permission in BANK_WIDE_ONLY and not self.bank_wide:
            return False
        return "*" in self.permissions or permission in self.permissions


LOCAL_OPERATOR = Principal(id="local-operator", kind="local", permissions=frozenset({"*"}))
