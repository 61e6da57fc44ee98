"""Generate ``docs/security.md`` from the route table, the roles and the access settings.

``python -m opsloop.api.security_doc`` writes it; ``--check`` exits 1 when the committed
file differs (a test runs the check, so the document cannot drift from the code).
"""

from __future__ import annotations

import sys
from pathlib import Path

from opsloop.access.config import AccessSettings
from opsloop.access.permissions import BANK_WIDE_ONLY, BUILTIN_ROLES, PERMISSIONS
from opsloop.api.app import create_app
from opsloop.api.deps import route_permissions
from opsloop.settings import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"

_PROSE = """
## Data scope (辖内)
Every user belongs to one org unit of the tree head office → branch → sub-branch
(`org_units.path`, e.g. `/HO/B07/B07S03/`). Every query that touches customers is
built from `opsloop.access.scope.scoped_customers` (filter
`customers.org_path.startswith(principal.org_path)`) or `scoped_by_customer` (a semi-join
of any customer-keyed table through the scoped customers). The filter is part of the
Ibis expression, so the engine never returns rows outside the scope.

- A role with *own customers only* (built-in: `rm`) narrows further to
  `customers.rm_id = user.rm_id`; without an RM id such a user sees no customer.
- A customer outside scope answers **404**, not 403: existence does not leak.
- Raw SQL (`warehouse:query`) cannot be scoped: it works only for bank-wide principals
  (`/HO/`, not own-customers-only). Such roles cannot be granted below the head office,
  and the permission check refuses it for any narrower scope. Each use is audited.

## Sign-in and credentials
- **Passwords**: argon2id; policy: 12+ characters, three of lower/upper/digit/symbol,
  not containing the username. After `OPSLOOP_LOCKOUT_FAILURES` failures in a row the
  account is locked for `OPSLOOP_LOCKOUT_MINUTES`.
- **Console sessions**: `POST /api/v1/auth/login` sets `opsloop_session` (HttpOnly,
  Secure, SameSite=Strict) and returns a CSRF secret (also in the readable cookie
  `opsloop_csrf`). Every unsafe request (POST/PUT/PATCH/DELETE) with the session cookie
  must send it back in `X-CSRF-Token`. Sessions expire after `OPSLOOP_SESSION_MINUTES`.
- **API tokens** (`Authorization: Bearer opl_…`): for systems; owned by a user, scoped
  to a subset of permissions (effective = owner's ∩ scopes, never more than the
  creator holds), expiring, revocable; only their SHA-256 is stored.
- **Local operator**: `opsloop serve` writes a per-start token to `HOME/server.json`
  (mode 0600) for the CLI; it acts as the bank-wide admin `local-operator`, audited.
- **Collection write keys** (future Collection center) are a separate kind of key: they
  never resolve to a staff principal and grant no permission above.

## OIDC (the bank's identity provider)
Configure with `OPSLOOP_OIDC_ISSUER`, `OPSLOOP_OIDC_CLIENT_ID`,
`OPSLOOP_OIDC_CLIENT_SECRET`, `OPSLOOP_OIDC_REDIRECT_URI` (the provider must allow
`https://<opsloop>/api/v1/auth/oidc/callback`) and `OPSLOOP_OIDC_USERNAME_CLAIM`
(default `preferred_username`). The console links to `GET /api/v1/auth/oidc/login`,
which redirects to the provider (authorization-code flow; state and nonce kept in a
signed, HttpOnly cookie). The callback exchanges the code at the token endpoint
(client secret, HTTP basic), verifies the ID token (RS256 against the provider's JWKS;
issuer, audience = client id, expiry, nonce) and opens a normal session for the
*existing, active* opsloop user named by the claim: the provider authenticates,
opsloop's roles and org unit authorise. Unknown users are refused and audited.

## PII
Name, phone, e-mail and ID number are masked in every response and export
(`138****1234`, `z***@example.com`, `110***********1234`, `张**`). The warehouse
`customers` table holds masked forms only; `customer_pii` holds AES-SIV ciphertexts
(key derived from the secret key). `?reveal=true` with `pii:view` decrypts; each reveal
and each export is audited. Logs pass through a filter that masks phone, ID and
e-mail patterns. Validation errors never echo submitted values.

## Audit
Every write, sign-in (and failed sign-in), export, PII reveal and raw SQL use is
appended to `audit_log`: who, when, action, target, client address, before/after.
Each row stores `sha256(canonical content + previous hash)`; appends serialise on the
`audit_head` row, so the chain never forks. `opsloop audit verify` (or
`GET /api/v1/audit/verify`) recomputes the chain and names the first broken row.
`opsloop audit prune` deletes rows older than `OPSLOOP_AUDIT_RETENTION_DAYS` and stores
an anchor (last pruned id and hash) from which verification continues.

## Hostile input
Request bodies over `OPSLOOP_MAX_BODY_BYTES` get 413; each principal has a token
bucket (`OPSLOOP_RATE_PER_MINUTE`, burst `OPSLOOP_RATE_BURST`; in Redis when
`OPSLOOP_REDIS_URL` is set), sign-in one per client address; all request models forbid
unknown fields; SQL is built by SQLAlchemy/Ibis with bound values; CSV cells starting
with `= + - @`, tab or CR are prefixed with `'`. Responses carry CSP (frame-ancestors
'none'), X-Content-Type-Options, X-Frame-Options, Referrer-Policy, and HSTS over HTTPS.
"""


def render() -> str:
    app = create_app(Settings(home=Path("/nonexistent-opsloop-home"), redis_url=None))
    out = [
        "# Security",
        "",
        "<!-- generated by `python -m opsloop.api.security_doc`; do not edit -->",
        "",
        "## Routes",
        "",
        "| method | path | access | permission |",
        "|---|---|---|---|",
    ]
    for r in route_permissions(app):
        out.append(f"| {r.method} | `{r.path}` | {r.access} | {r.permission or ''} |")
    out += ["", "## Permissions", "", "| permission | meaning |", "|---|---|"]
    out += [f"| `{p}` | {m} |" for p, m in PERMISSIONS.items()]
    out += ["", f"Bank-wide only: {', '.join(f'`{p}`' for p in sorted(BANK_WIDE_ONLY))}."]
    out += ["", "## Built-in roles", "", "| role | meaning | permissions |", "|---|---|---|"]
    for role in BUILTIN_ROLES.values():
        perms = ", ".join(f"`{p}`" for p in sorted(role.permissions))
        scope = " (own customers only)" if role.own_customers_only else ""
        out.append(f"| `{role.name}` | {role.description}{scope} | {perms} |")
    out += ["", "Custom roles (`POST /api/v1/roles`) combine catalogued permissions."]
    out += [_PROSE.rstrip(), "", "## Settings", "", "| variable | default | meaning |"]
    out.append("|---|---|---|")
    for name, f in AccessSettings.model_fields.items():
        default = "" if f.default is None else f"`{f.default}`"
        out.append(f"| `OPSLOOP_{name.upper()}` | {default} | {f.description or ''} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run python -m opsloop.api.security_doc", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
