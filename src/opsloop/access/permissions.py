"""The permission catalogue and the built-in roles over it.

Permissions are fine-grained strings (``segment:read``); roles are named sets of them.
Built-in roles live in code (so an upgrade can widen or narrow them in one place);
custom roles live in the store and may use only catalogued permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

PERMISSIONS: dict[str, str] = {
    "customer:read": "list, count and open customers in one's data scope (辖内), PII masked",
    "customer:export": "export customers in one's data scope as CSV (audited)",
    "pii:view": "see clear phone, e-mail, ID number and name (each reveal audited)",
    "segment:read": "read segments (客群)",
    "segment:write": "create and edit segments",
    "segment:export": "export segment members (audited)",
    "tag:read": "read the tag catalogue (标签), run statistics, and tags of customers in scope",
    "tag:write": "create tags and import manual tag id lists (audited)",
    "tag:run": "compute tags now for the whole bank (audited)",
    "journey:submit": "draft journeys and submit them for approval",
    "journey:approve": "approve or reject submitted journeys",
    "benefit:manage": "manage benefits (权益): coupons, points, budgets",
    "benefit:redeem": "redeem benefit units for customers (systems: API or transaction events)",
    "activity:read": "read activities (活动) and the benefit catalogue",
    "activity:submit": "draft, submit, start, pause and finish activities",
    "activity:approve": "approve or reject submitted activities (not one's own)",
    "activity:participate": "take part in activities for customers (the app's backend)",
    "risk:review": "review risk decisions (风控), release them, edit black/grey lists",
    "reach:manage": "manage channels and message templates",
    "reach:serve": "serve in-app inbox and resource slots (资源位) to the bank's app backend",
    "reach:task": "work outbound call lists and RM tasks in scope: list, export, record outcomes",
    "contact:read": "read contact history (attempts, suppressions, receipts) in scope",
    "analysis:read": "run analyses and read dashboards",
    "dashboard:write": "save, refresh and delete reports (看板) and metric alerts (告警)",
    "audit:read": "read the audit log",
    "user:manage": "create users, grant roles, define custom roles",
    "token:manage": "create and revoke API tokens for systems",
    "warehouse:query": "raw read-only SQL on the warehouse (bank-wide principals only)",
    "collect:read": "list event sources (埋点数据源) and ingestion counters",
    "collect:admin": "create and revoke event sources and their write keys",
    "collect:privacy": "record tracking consent and erase a customer's collected events",
    "system:metrics": "scrape Prometheus metrics at /metrics (the monitoring system's token)",
}

# Raw SQL cannot be filtered to a subtree, so these need a bank-wide, all-customer scope.
BANK_WIDE_ONLY: frozenset[str] = frozenset({"warehouse:query"})
BANK_WIDE_PATH = "/HO/"


@dataclass(frozen=True)
class RoleDef:
    """A role: its permissions, and whether it confines the holder to their own customers."""

    name: str
    description: str
    permissions: frozenset[str]
    own_customers_only: bool = False
    builtin: bool = True


def _role(name: str, description: str, *perms: str, own: bool = False) -> RoleDef:
    return RoleDef(name, description, frozenset(perms), own_customers_only=own)


BUILTIN_ROLES: dict[str, RoleDef] = {
    r.name: r
    for r in (
        _role("admin", "system administrator (系统管理员): everything", *PERMISSIONS),
        _role(
            "operator",
            "operations staff (运营): segments, journeys, benefits, reach",
            "customer:read",
            "segment:read",
            "segment:write",
            "segment:export",
            "tag:read",
            "tag:write",
            "tag:run",
            "journey:submit",
            "benefit:manage",
            "activity:read",
            "activity:submit",
            "reach:manage",
            "reach:task",
            "contact:read",
            "analysis:read",
            "dashboard:write",
            "collect:read",
        ),
        _role(
            "approver",
            "approver (审批): approves journeys",
            "customer:read",
            "segment:read",
            "tag:read",
            "journey:approve",
            "activity:read",
            "activity:approve",
            "risk:review",
            "analysis:read",
        ),
        _role(
            "observer",
            "monitoring system (监控): scrapes /metrics, sees no customer",
            "system:metrics",
        ),
        _role(
            "analyst",
            "analyst (分析): analyses and segments, read-only",
            "customer:read",
            "segment:read",
            "tag:read",
            "analysis:read",
            "dashboard:write",
            "collect:read",
        ),
        _role(
            "branch_operator",
            "branch operations (分行运营): segments and journeys in the branch subtree",
            "customer:read",
            "customer:export",
            "segment:read",
            "tag:read",
            "segment:write",
            "journey:submit",
            "reach:task",
            "contact:read",
            "analysis:read",
            "dashboard:write",
        ),
        _role(
            "rm",
            "relationship manager (客户经理): own customers only",
            "customer:read",
            "segment:read",
            "tag:read",
            "reach:task",
            "contact:read",
            own=True,
        ),
        _role("auditor", "auditor (审计): reads the audit log", "audit:read", "analysis:read"),
    )
}


def unknown_permissions(perms: set[str] | frozenset[str]) -> list[str]:
    """The permissions in ``perms`` that are not catalogued, sorted."""
    return sorted(p for p in perms if p not in PERMISSIONS)
