"""Logs never show an SSN, a date of birth or an email, whoever wrote the log line."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from bgcheck.platform.logs import REDACTED, configure_logging, get_logger, redact_text

SSN = "123-45-6789"
SSN_DIGITS = "987654321"
DOB = "1984-07-21"
EMAIL = "jordan.candidate@example.org"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"ssn={SSN}", SSN),
        (f"ssn {SSN_DIGITS}.", SSN_DIGITS),
        ("ssn 123 45 6789", "123 45 6789"),
        (f"born {DOB}", DOB),
        ("born 7/21/1984", "7/21/1984"),
        (f"mail <{EMAIL}>", EMAIL),
    ],
)
def test_pii_shapes_are_redacted(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-25T15:16:30.123456Z",  # timestamps are not birth dates
        "request 4f3a9c2e1b7d4e8fa0b1c2d3e4f5a6b7",
        "case 0c6f1a5e-5b2a-4d7e-9b1f-123456789012",
        "took 12.5 ms",
    ],
)
def test_ordinary_values_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_structlog_and_stdlib_records_are_redacted_in_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    get_logger("tests").info(f"candidate {EMAIL}", ssn=SSN, nested={"dob": DOB})
    logging.getLogger("some.library").warning("looked up %s", SSN_DIGITS)
    try:
        raise ValueError(f"bad ssn {SSN}")
    except ValueError:
        get_logger("tests").exception("failed")
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3
    for secret in (SSN, SSN_DIGITS, DOB, EMAIL):
        assert secret not in out


def test_a_request_carrying_pii_leaves_none_in_the_log(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")  # bind the handler to the captured stdout
    ok = client.post("/api/v1/probe", json={"name": f"{SSN} {EMAIL}", "count": 1})
    bad = client.post("/api/v1/probe", json={"name": SSN, "count": SSN})
    boom = client.post("/api/v1/probe/explode", json={"name": f"dob {DOB}", "count": 1})
    assert (ok.status_code, bad.status_code, boom.status_code) == (200, 422, 500)
    out = capsys.readouterr().out
    assert '"route": "/api/v1/probe"' in out  # the requests were logged...
    assert "Traceback" in out  # ...and so was the bug, with its traceback
    for secret in (SSN, DOB, EMAIL):
        assert secret not in out
