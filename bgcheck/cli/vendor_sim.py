"""``bgcheck vendor-sim``: the vendor simulator as its own process (docs/vendor-http.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from bgcheck.cli.common import fail
from bgcheck.platform.logs import configure_logging


def vendor_sim(
    api_key: Annotated[
        str, typer.Option(envvar="BGCHECK_SIM_API_KEY", help="Bearer key callers must send.")
    ],
    webhook_secret: Annotated[
        str,
        typer.Option(
            envvar="BGCHECK_SIM_WEBHOOK_SECRET", help="Standard Webhooks secret (whsec_…)."
        ),
    ],
    webhook_url: Annotated[
        str | None,
        typer.Option(envvar="BGCHECK_SIM_WEBHOOK_URL", help="Where to post webhooks (none: off)."),
    ] = None,
    delay: Annotated[
        float,
        typer.Option(envvar="BGCHECK_SIM_DELAY", min=0, help="Seconds an order takes."),
    ] = 1.0,
    host: Annotated[str, typer.Option(envvar="BGCHECK_SIM_HOST", help="Interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="BGCHECK_SIM_PORT", help="TCP port.")] = 8900,
    name: Annotated[str, typer.Option(help="The vendor name its reports carry.")] = (
        "Vendor Simulator"
    ),
) -> None:
    """Run a simulated screening vendor (for tests and demos) until SIGTERM or Ctrl-C.

    SSNs ending in 0000 get a criminal-record finding. Faults are injected with
    POST /_sim/faults; GET /_sim/stats counts orders and webhooks.
    """
    import uvicorn

    from bgcheck.vendors.sim import SimConfig, create_app

    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        fail("--webhook-url must be an http(s):// URL")
    if not api_key:
        fail("--api-key may not be empty")
    config = SimConfig(
        api_key=api_key,
        webhook_secret=webhook_secret,
        webhook_url=webhook_url,
        delay_seconds=delay,
        name=name,
    )
    try:
        app = create_app(config)
    except ValueError as exc:  # the secret is not whsec_<base64>
        fail(str(exc))
    configure_logging("INFO", "json")
    # uvicorn stops on SIGTERM: in-flight answers get a few seconds, then the lifespan
    # stops the webhook thread.
    uvicorn.run(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=3
    )
