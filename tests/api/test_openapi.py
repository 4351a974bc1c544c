"""The OpenAPI document says what the routes really answer (tests/fuzz/ checks the
answers against it; these pin the declarations the fuzzer found wrong)."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from api.errors import PROBLEM_JSON
from api.openapi import link_to
from bgcheck.platform.db import make_engine
from bgcheck.platform.settings import Settings

Spec = dict[str, Any]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(data_dir=folder, embedded_worker=False)
    return create_app(settings, make_engine(settings, url=f"sqlite:///{folder}/x.db")).openapi()


def operations(spec: Spec) -> list[tuple[str, Spec]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def test_error_answers_are_declared_as_problem_json(spec: Spec) -> None:
    # They were declared as application/json (FastAPI puts a `model` there), and routes
    # without a 422 of their own got FastAPI's JSON validation error.
    for label, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and "content" in response:
                assert list(response["content"]) == [PROBLEM_JSON], (label, status)
                schema = response["content"][PROBLEM_JSON]["schema"]
                assert {"type", "title", "status", "detail"} <= set(schema["required"])


def test_inputs_declare_their_refusals(spec: Spec) -> None:
    for label, operation in operations(spec):
        responses = operation["responses"]
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, label
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            assert "400" in responses, f"{label}: malformed JSON is a 400"


def test_a_case_links_to_reading_it_and_to_its_next_event(spec: Spec) -> None:
    cases = spec["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["links"]
    event = cases["FireAllowedEvent"]
    assert (
        event["operationRef"] == "#/paths/~1api~1v1~1cases~1%7Bcase_id%7D~1events~1%7Bevent%7D/post"
    )
    assert event["parameters"]["event"] == "$response.body#/allowed_events/0"
    for links in (
        cases,
        spec["paths"]["/api/v1/cases/{case_id}"]["get"]["responses"]["200"]["links"],
    ):
        for link in links.values():
            path, method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
            path = path.replace("~1", "/").replace("%7B", "{").replace("%7D", "}")
            assert method in spec["paths"][path], link


def test_link_to_escapes_the_pointer() -> None:
    link = link_to("GET", "/a~b/{id}", "Read it.", id="$response.body#/id")
    assert link["operationRef"] == "#/paths/~1a~0b~1%7Bid%7D/get"


def test_the_main_writes_document_their_bodies(spec: Spec) -> None:
    # They were bare objects: the workflow validates them (after the role and state checks,
    # so 403 and 409 come before 422), and the document now shows what it expects.
    schemas = spec["components"]["schemas"]
    create = spec["paths"]["/api/v1/cases"]["post"]["requestBody"]
    assert create["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateBody"
    }
    assert {"department", "position_title", "candidate"} <= set(schemas["CreateBody"]["required"])
    event = spec["paths"]["/api/v1/cases/{case_id}/events/{event}"]["post"]["requestBody"]
    bodies = {
        ref["$ref"].rsplit("/", 1)[1]
        for ref in event["content"]["application/json"]["schema"]["anyOf"]
    }
    assert {"NoteBody", "AssignBody", "ProposeAdverseBody", "ReasonBody"} <= bodies
    assert bodies <= schemas.keys()
    assert "`propose_adverse`: ProposeAdverseBody" in event["description"]
