"""The HTTP ceiling: a bare FastAPI "hello" endpoint, served the way `bgcheck serve` serves.

One uvicorn process, the same settings as ``bgcheck/cli/server.py`` (loopback, access log
off, no log config, no proxy headers; uvloop and httptools picked by "auto" for both).
Whatever bgcheck's routes add on top of this, the middleware, the thread-pool hops, the
database and the vault, is what ``make bench`` compares against it.

Run: `.venv/bin/python bench/hello.py --port 8001`, then `GET /hello`.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        "hello:app",
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
