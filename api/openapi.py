"""OpenAPI links: how the answer of one operation feeds the next.

A client (or the stateful fuzzer in tests/fuzz/) reads them to chain calls, e.g. from a
created case to reading it and firing the events it allows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


def link_to(method: str, path: str, description: str, **parameters: str) -> dict[str, Any]:
    """A link object to the operation ``method path`` of this API.

    ``parameters``: the target's parameter name (qualified as ``header.if-match`` for a
    header) → a runtime expression such as ``$response.body#/id``, or a constant.
    """
    pointer = quote(path.replace("~", "~0").replace("/", "~1"), safe="~")
    return {
        "operationRef": f"#/paths/{pointer}/{method.lower()}",
        "description": description,
        "parameters": parameters,
    }
