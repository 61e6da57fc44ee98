"""PII never reaches the logs; exported cells cannot run as spreadsheet formulas."""

from __future__ import annotations

import logging

import pytest
import structlog

from opsloop.access.csvsafe import safe_cell, to_csv
from opsloop.access.ratelimit import MemoryRateLimiter
from opsloop.access.redact import RedactingFilter, redact, redact_processor


def test_redact_masks_phone_id_and_email() -> None:
    line = "客户 13812345678 / +8613912345678 id 11010119900307123X mail a.b@bank.cn"
    out = redact(line)
    assert "13812345678" not in out and "13912345678" not in out
    assert "11010119900307123X" not in out and "a.b@bank.cn" not in out
    assert "138****5678" in out and "110***********123X" in out


def test_stdlib_filter_masks_the_formatted_message(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("opsloop.test.pii")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="opsloop.test.pii"):
        logger.info("calling %s", "13812345678")
    assert "13812345678" not in caplog.text and "138****5678" in caplog.text


def test_structlog_processor_masks_event_values() -> None:
    cap = structlog.testing.LogCapture()
    log = structlog.wrap_logger(None, processors=[redact_processor, cap])
    log.info("sent sms", to="13812345678", extra={"mail": "x@y.com"})
    (entry,) = cap.entries
    assert entry["to"] == "138****5678" and entry["extra"]["mail"] == "x***@y.com"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_prefixed(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell
    assert to_csv(["c"], [[cell]]).splitlines()[1].lstrip('"').startswith("'")


def test_numbers_and_plain_text_are_untouched() -> None:
    assert safe_cell(-5) == -5 and safe_cell("abc") == "abc"


def test_memory_bucket_refills() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(per_second=1.0, capacity=2, clock=lambda: now[0])
    assert [limiter.allow("k") for _ in range(3)] == [True, True, False]
    now[0] = 1.0
    assert limiter.allow("k") and not limiter.allow("k")
    assert limiter.allow("other")


def test_configured_json_logs_carry_no_pii(capsys: pytest.CaptureFixture[str]) -> None:
    from opsloop.access.redact import install_log_redaction
    from opsloop.logging import configure_logging, get_logger

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        install_log_redaction()
        get_logger("opsloop.test").info("sms sent", phone="13812345678", mail="li@bank.cn")
        logging.getLogger("uvicorn.access").info("GET /x?p=%s", "13912345678")
        err = capsys.readouterr().err
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        structlog.reset_defaults()
    assert "13812345678" not in err and "138****5678" in err
    assert "li@bank.cn" not in err and "13912345678" not in err
