"""PII never in logs: a processor/filter that masks phones, ID numbers and e-mails.

>>> redact("call 13812341234 or mail zhang.san@example.com, id 110101199003071234")
'call 138****1234 or mail z***@example.com, id 110***********1234'
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

from opsloop.access.masking import mask_email, mask_id_number, mask_phone

_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def redact(text: str) -> str:
    text = _ID.sub(lambda m: mask_id_number(m.group()) or "", text)
    text = _PHONE.sub(lambda m: mask_phone(m.group()[-11:]) or "", text)
    return _EMAIL.sub(lambda m: mask_email(m.group()) or "", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: masks PII in every string of the event."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(value)
    return event_dict


class RedactingFilter(logging.Filter):
    """A stdlib filter: masks PII in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # a structlog event on its way to the formatter
            record.msg = _redact_value(record.msg)
            return True
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    """Attach the filter to the root handlers (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
