"""The canonical bank data model of the warehouse: one typed table per entity.

This module is the single source of truth: the synthetic bank and the real-data
loaders write these tables, every center reads them, and ``docs/data-model.md`` is
generated from it (a test checks the document is current). A dataset may add columns
of its own after the canonical ones (documented per loader); it may not drop or
retype a canonical column.

PII never sits in clear in the warehouse: ``customers`` carries masked forms only,
and the clear values live encrypted (field-level AES-GCM) in ``customer_pii``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    meaning: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    meaning: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name: str, type_: pa.DataType, meaning: str, nullable: bool = True) -> Column:
    return Column(name, type_, meaning, nullable)


S, I64, I32, I16, F64, B, D = (
    pa.string(),
    pa.int64(),
    pa.int32(),
    pa.int16(),
    pa.float64(),
    pa.bool_(),
    pa.date32(),
)
TS = pa.timestamp("us")
BIN = pa.binary()

ORG_UNITS = Table(
    "org_units",
    "The bank's org tree: head office → branch → sub-branch (总行/分行/支行).",
    (
        _c("org_id", S, "stable id, e.g. HO, B07, B07S03", nullable=False),
        _c("parent_id", S, "parent org_id; null for the head office"),
        _c("level", S, "head_office | branch | sub_branch", nullable=False),
        _c("name", S, "display name (Chinese)", nullable=False),
        _c("name_en", S, "display name (English)"),
        _c("city", S, "city the unit is in"),
        _c("path", S, "materialised path '/HO/B07/B07S03/': subtree = path LIKE prefix%", False),
    ),
    ("org_id",),
)

RELATIONSHIP_MANAGERS = Table(
    "relationship_managers",
    "Relationship managers (客户经理), each attached to one org unit.",
    (
        _c("rm_id", S, "stable id, e.g. RM000123", nullable=False),
        _c("org_id", S, "org unit the RM works in", nullable=False),
        _c("org_path", S, "path of that org unit (denormalised for scope filters)", False),
        _c("name", S, "RM's name (staff, not customer PII)"),
        _c("hired_on", D, "hire date"),
    ),
    ("rm_id",),
)

CUSTOMERS = Table(
    "customers",
    "One row per customer: demographics, home branch, RM, KYC, consent; PII masked only.",
    (
        _c("customer_id", I64, "stable customer number", nullable=False),
        _c("org_id", S, "home org unit (usually a sub-branch)", nullable=False),
        _c("org_path", S, "path of the home org unit: the data-scope (辖内) filter key", False),
        _c("rm_id", S, "assigned relationship manager, null if none"),
        _c("gender", S, "F | M | null when unknown"),
        _c("birth_date", D, "date of birth"),
        _c("occupation", S, "occupation category"),
        _c("education", S, "highest education"),
        _c("marital", S, "single | married | divorced | unknown"),
        _c("income_monthly", F64, "declared monthly income, CNY"),
        _c("city", S, "city of residence"),
        _c("kyc_risk_level", I16, "KYC risk appetite C1..C5 as 1..5"),
        _c("opened_on", D, "date the customer relationship started", nullable=False),
        _c("acquisition_channel", S, "branch | app | web | referral | partner"),
        _c("is_active", B, "false once the relationship is closed", nullable=False),
        _c("consent_sms", B, "marketing SMS allowed", nullable=False),
        _c("consent_push", B, "app push allowed", nullable=False),
        _c("consent_email", B, "marketing e-mail allowed", nullable=False),
        _c("consent_wechat", B, "WeChat template messages allowed", nullable=False),
        _c("consent_call", B, "outbound calls allowed", nullable=False),
        _c("dnd", B, "do-not-disturb (免打扰): no marketing on any channel", nullable=False),
        _c("name_masked", S, "name with all but the first character masked (张**)"),
        _c("phone_masked", S, "mobile masked as 138****1234"),
        _c("email_masked", S, "e-mail masked as z***@example.com"),
        _c("id_number_masked", S, "ID number masked as 110***********1234"),
        _c("source", S, "dataset the row came from: synth | berka | bank-marketing | hillstrom"),
    ),
    ("customer_id",),
)

CUSTOMER_PII = Table(
    "customer_pii",
    "Clear PII, encrypted field by field (AES-256-GCM, key from configuration).",
    (
        _c("customer_id", I64, "customer", nullable=False),
        _c("name_enc", BIN, "encrypted full name"),
        _c("phone_enc", BIN, "encrypted mobile number"),
        _c("email_enc", BIN, "encrypted e-mail address"),
        _c("id_number_enc", BIN, "encrypted national ID number"),
    ),
    ("customer_id",),
)

PRODUCTS = Table(
    "products",
    "The product shelf: deposits, wealth/funds, loans, cards, insurance.",
    (
        _c("product_id", S, "stable id, e.g. DEP-DEMAND", nullable=False),
        _c("category", S, "deposit | wealth | fund | loan | card | insurance", False),
        _c("name", S, "display name (Chinese)", nullable=False),
        _c("name_en", S, "display name (English)"),
        _c("risk_level", I16, "product risk R1..R5 as 1..5 (matches KYC level)"),
        _c("annual_rate", F64, "indicative annual rate (deposit/loan) or expected yield"),
        _c("min_amount", F64, "minimum purchase / balance, CNY"),
    ),
    ("product_id",),
)

ACCOUNTS = Table(
    "accounts",
    "Accounts and holdings: one row per customer × product contract.",
    (
        _c("account_id", I64, "account number", nullable=False),
        _c("customer_id", I64, "owner", nullable=False),
        _c("product_id", S, "product held", nullable=False),
        _c("opened_on", D, "date opened", nullable=False),
        _c("closed_on", D, "date closed, null while open"),
        _c("status", S, "open | closed | defaulted", nullable=False),
        _c("principal", F64, "amount at opening (loan principal, fixed deposit amount)"),
    ),
    ("account_id",),
)

AUM_MONTHLY = Table(
    "aum_monthly",
    "Month-end balances per customer: assets under management (AUM) and liabilities.",
    (
        _c("customer_id", I64, "customer", nullable=False),
        _c("month", D, "last day of the month", nullable=False),
        _c("deposit_balance", F64, "demand + time deposits, CNY", nullable=False),
        _c("wealth_balance", F64, "wealth products and funds, CNY", nullable=False),
        _c("insurance_value", F64, "insurance cash value, CNY", nullable=False),
        _c("aum", F64, "deposit + wealth + insurance, CNY", nullable=False),
        _c("loan_balance", F64, "outstanding loans and card debt, CNY", nullable=False),
    ),
    ("customer_id", "month"),
)

TRANSACTIONS = Table(
    "transactions",
    "Money movements on accounts.",
    (
        _c("txn_id", I64, "transaction id", nullable=False),
        _c("customer_id", I64, "customer", nullable=False),
        _c("account_id", I64, "account the money moved on"),
        _c("ts", TS, "booking time", nullable=False),
        _c("amount", F64, "absolute amount, CNY (or the dataset's currency)", nullable=False),
        _c("direction", S, "in | out", nullable=False),
        _c(
            "kind",
            S,
            "salary | transfer | purchase | fund_buy | fund_redeem | loan_repay | …",
            False,
        ),
        _c("channel", S, "app | counter | atm | pos | online | standing_order"),
        _c("balance_after", F64, "account balance after the transaction, if known"),
    ),
    ("txn_id",),
)

EVENTS = Table(
    "events",
    "Behavioural events from the app and web (埋点): one row per event.",
    (
        _c(
            "message_id",
            S,
            "idempotency id from the SDK (Segment messageId / Sensors _track_id)",
            False,
        ),
        _c("ts", TS, "when it happened (client time corrected for clock skew)", nullable=False),
        _c("event", S, "event name, e.g. app_open, fund_detail_view", nullable=False),
        _c("customer_id", I64, "customer, once identified; null for anonymous"),
        _c("anonymous_id", S, "device/anonymous id before login"),
        _c("platform", S, "ios | android | web | miniprogram"),
        _c("properties", S, "event properties as a JSON object"),
    ),
    ("message_id",),
)

CONTACTS = Table(
    "contacts",
    "Contact history brought in from outside (e.g. past telemarketing campaigns).",
    (
        _c("contact_id", I64, "contact attempt id", nullable=False),
        _c("customer_id", I64, "customer contacted", nullable=False),
        _c("campaign_id", S, "campaign the contact belonged to", nullable=False),
        _c("channel", S, "sms | push | email | wechat | call | inapp | rm", nullable=False),
        _c("ts", TS, "when (date precision where the source has no time)"),
        _c("attempt", I32, "attempt number within the campaign"),
        _c("duration_s", F64, "call duration in seconds (known only after the call)"),
        _c("outcome", S, "source's outcome label, e.g. success | failure | yes | no"),
    ),
    ("contact_id",),
)

EXPERIMENT_ASSIGNMENTS = Table(
    "experiment_assignments",
    "Who was in which arm of a randomised experiment.",
    (
        _c("experiment_id", S, "experiment", nullable=False),
        _c("customer_id", I64, "customer", nullable=False),
        _c("arm", S, "arm name; the control arm is named in experiment docs", nullable=False),
        _c("assigned_at", TS, "when assigned, if known"),
    ),
    ("experiment_id", "customer_id"),
)

EXPERIMENT_OUTCOMES = Table(
    "experiment_outcomes",
    "Per-customer outcome metrics of an experiment's observation window.",
    (
        _c("experiment_id", S, "experiment", nullable=False),
        _c("customer_id", I64, "customer", nullable=False),
        _c("metric", S, "metric name, e.g. visit, conversion, spend", nullable=False),
        _c("value", F64, "metric value for the customer", nullable=False),
    ),
    ("experiment_id", "customer_id", "metric"),
)

CANONICAL_TABLES: tuple[Table, ...] = (
    ORG_UNITS,
    RELATIONSHIP_MANAGERS,
    CUSTOMERS,
    CUSTOMER_PII,
    PRODUCTS,
    ACCOUNTS,
    AUM_MONTHLY,
    TRANSACTIONS,
    EVENTS,
    CONTACTS,
    EXPERIMENT_ASSIGNMENTS,
    EXPERIMENT_OUTCOMES,
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in CANONICAL_TABLES}


def conform(table: Table, data: pa.Table) -> pa.Table:
    """Cast ``data`` to the canonical schema, keeping extra columns after the canonical ones.

    Raises:
        ValueError: a canonical column is missing or cannot be cast.
    """
    missing = [c for c in table.column_names if c not in data.column_names]
    if missing:
        raise ValueError(f"table {table.name}: missing canonical columns {missing}")
    columns = []
    fields = []
    for col in table.columns:
        arr = data.column(col.name)
        try:
            arr = arr.cast(col.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"table {table.name}, column {col.name}: {exc}") from exc
        if not col.nullable and arr.null_count:
            raise ValueError(f"table {table.name}, column {col.name}: {arr.null_count} nulls")
        columns.append(arr)
        fields.append(pa.field(col.name, col.type, nullable=col.nullable))
    for name in data.column_names:
        if name not in table.column_names:
            columns.append(data.column(name))
            fields.append(data.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
