"""Message templates: sandboxed Jinja2, checked at save time, previewed on a real customer.

A template is a frozen document (``extra="forbid"``). Saving renders it against a
sample context with one value for every canonical ``customers`` column, under
``StrictUndefined``: a misspelt ``{{ customer.nmae }}`` is an error at save time, not
a blank in ten thousand messages. The sandbox refuses attribute tricks
(``{{ ''.__class__ }}``), so a template author cannot reach Python.

Context: ``customer`` (every canonical column, plus ``name``/``phone``/``email``
masked unless the viewer holds ``pii:view``), ``unsubscribe_url`` (e-mail), and
``short(url)``, which turns a URL into a tracked ``/r/{token}`` link.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import jinja2
import pyarrow as pa
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from opsloop.errors import InvalidInputError
from opsloop.warehouse.schema import CUSTOMERS

ChannelName = Literal["sms", "push", "wechat", "email", "inbox", "call", "rm"]
ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
HTML_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)


class TemplateDef(BaseModel):
    """A message template for one channel and locale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    channel: ChannelName
    locale: Literal["zh", "en"] = "zh"
    subject: str | None = Field(default=None, max_length=200)
    body: str = Field(min_length=1, max_length=4000)
    html: str | None = Field(default=None, max_length=100_000)


def _sample(field: pa.Field) -> Any:
    t = field.type
    if pa.types.is_boolean(t):
        return True
    if pa.types.is_integer(t):
        return 1
    if pa.types.is_floating(t):
        return 1.0
    if pa.types.is_date(t):
        return date(1990, 1, 1)
    return "示例"


SAMPLE_CUSTOMER: dict[str, Any] = {f.name: _sample(f) for f in CUSTOMERS.schema} | {
    "name": "张**",
    "phone": "138****1234",
    "email": "z***@example.com",
    "id_number": "110***********1234",
}


def sample_context() -> dict[str, Any]:
    return {
        "customer": dict(SAMPLE_CUSTOMER),
        "unsubscribe_url": "https://bank.example/r/sample",
        "short": lambda url: "https://bank.example/r/sample",
    }


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None


def _render(env: SandboxedEnvironment, source: str, ctx: Mapping[str, Any], where: str) -> str:
    try:
        return env.from_string(source).render(ctx)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidInputError(
            f"template syntax: {exc.message}", where=f"{where}:{exc.lineno}"
        ) from exc
    except jinja2.UndefinedError as exc:
        raise InvalidInputError(f"undefined variable: {exc.message}", where=where) from exc
    except jinja2.TemplateError as exc:  # SecurityError from the sandbox, among others
        raise InvalidInputError(f"template refused: {exc}", where=where) from exc


def render(t: TemplateDef, ctx: Mapping[str, Any]) -> Rendered:
    """Render every part of ``t``; a missing variable raises (never a silent blank)."""
    subject = _render(ENV, t.subject, ctx, "subject") if t.subject is not None else None
    html = _render(HTML_ENV, t.html, ctx, "html") if t.html is not None else None
    return Rendered(subject, _render(ENV, t.body, ctx, "body"), html)


def validate(t: TemplateDef) -> Rendered:
    """The save-time check: renders against the sample customer, enforces channel rules."""
    if t.channel == "email":
        if not t.subject:
            raise InvalidInputError("an e-mail template needs a subject", where="subject")
        if "unsubscribe_url" not in t.body + (t.html or ""):
            raise InvalidInputError(
                "marketing e-mail must carry {{ unsubscribe_url }}", where="body"
            )
    return render(t, sample_context())


# -- SMS length ----------------------------------------------------------------------------

_GSM7 = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = "^{}\\[~]|€\f"
GSM7 = frozenset(_GSM7)
GSM7_EXT = frozenset(_GSM7_EXT)


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_length(text: str) -> SmsLength:
    """Segments a carrier bills: GSM-7 160 (153 per part), UCS-2 70 (67 per part).

    >>> sms_length("Hello").segments, sms_length("您好" * 36).segments
    (1, 2)
    """
    if all(c in GSM7 or c in GSM7_EXT for c in text):
        units = sum(2 if c in GSM7_EXT else 1 for c in text)
        single, part, enc = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, enc = 70, 67, "UCS-2"
    segments = 0 if units == 0 else 1 if units <= single else -(-units // part)
    return SmsLength(enc, units, segments)  # type: ignore[arg-type]


def context_for(
    customer: Mapping[str, Any],
    *,
    unsubscribe_url: str | None = None,
    short: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The render context for one real customer row (PII as the caller may see it)."""
    return {
        "customer": dict(customer),
        "unsubscribe_url": unsubscribe_url or "",
        "short": short or (lambda url: url),
    }


_PLACEHOLDER = re.compile(r"\{\{\s*customer\.(\w+)")


def variables(t: TemplateDef) -> list[str]:
    """The customer fields a template uses (for the console's field list)."""
    return sorted(set(_PLACEHOLDER.findall(t.body + (t.subject or "") + (t.html or ""))))
