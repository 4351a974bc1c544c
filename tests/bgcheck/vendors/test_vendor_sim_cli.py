"""``bgcheck vendor-sim`` as an operator meets it: start-up checks and a clean stop."""

from __future__ import annotations

import signal

import pytest
from typer.testing import CliRunner

from bgcheck.cli import app

from support.vendor_sim import running_sim

runner = CliRunner()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--webhook-secret", "whsec_"], "the webhook secret is not a whsec_<base64> secret"),
        (["--webhook-secret", "x"], "the webhook secret is not a whsec_<base64> secret"),
        (
            ["--webhook-secret", "whsec_AAAA", "--webhook-url", "ftp://example.org/hook"],
            "--webhook-url must be an http(s):// URL",
        ),
    ],
    ids=["empty-secret", "not-base64", "not-http"],
)
def test_bad_options_stop_it_with_one_line(options: list[str], message: str) -> None:
    result = runner.invoke(app, ["vendor-sim", "--api-key", "k", *options])

    assert result.exit_code == 2
    assert f"bgcheck: {message}" in result.output
    assert "Traceback" not in result.output


def test_sigterm_stops_it_cleanly() -> None:
    with running_sim() as sim:
        sim.process.send_signal(signal.SIGTERM)
        sim.process.wait(timeout=30)

        log = sim.log()

    assert "vendor-sim stopped" in log  # the shutdown ran, webhook thread included
    assert "Traceback" not in log
