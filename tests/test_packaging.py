"""What a fresh install and the container image depend on."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bgcheck.cli import app as cli_app
from bgcheck.platform.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def test_only_the_maintained_passlib_fork_is_installed() -> None:
    # libpass and the abandoned passlib both install the `passlib` module; one must win.
    assert metadata.version("libpass")
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("passlib")


def test_every_dependency_has_a_floor() -> None:
    project = PYPROJECT["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert all(">=" in requirement for requirement in requirements), requirements


def locked_pins(lock_file: str) -> dict[str, str]:
    """``{name: version}`` of a lock file written by ``make lock``."""
    lines = (ROOT / lock_file).read_text().splitlines()
    pins = (re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", line) for line in lines)
    return {canonicalize_name(pin[1]): pin[2] for pin in pins if pin}


@pytest.mark.parametrize(
    ("lock_file", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))]
)
def test_the_lock_files_pin_every_requirement_within_its_range(
    lock_file: str, extras: tuple[str, ...]
) -> None:
    """After a change to the dependencies in pyproject.toml, run `make lock`."""
    project = PYPROJECT["project"]
    lines = project["dependencies"] + [
        line for extra in extras for line in project["optional-dependencies"][extra]
    ]
    pins = locked_pins(lock_file)
    stale = [
        str(requirement)
        for requirement in map(Requirement, lines)
        if (version := pins.get(canonicalize_name(requirement.name))) is None
        or not requirement.specifier.contains(version, prereleases=True)
    ]
    assert not stale, f"{lock_file} is stale for {stale}: run `make lock`"


def test_the_dev_lock_keeps_the_runtime_pins() -> None:
    runtime, dev = locked_pins("requirements.lock"), locked_pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_console_script_is_the_typer_app() -> None:
    assert PYPROJECT["project"]["scripts"]["bgcheck"] == "bgcheck.cli:app"
    assert cli_app.registered_commands


def command_names() -> set[str]:
    names = {command.name or command.callback.__name__ for command in cli_app.registered_commands}
    return names | {group.name for group in cli_app.registered_groups}


def compose_environments() -> list[dict[str, str]]:
    return [service.get("environment", {}) for service in COMPOSE["services"].values()]


def test_every_bgcheck_variable_in_compose_is_a_real_setting() -> None:
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    used = {name for env in compose_environments() for name in env if name.startswith(ENV_PREFIX)}
    assert used, "compose sets no BGCHECK_ variable"
    assert used <= fields, used - fields


def test_compose_configures_bgcheck_only_through_bgcheck_variables() -> None:
    for name, service in COMPOSE["services"].items():
        if service.get("image", "").startswith("bgcheck"):
            assert all(key.startswith(ENV_PREFIX) for key in service.get("environment", {})), name


def test_compose_runs_postgres_api_and_worker_with_real_commands() -> None:
    services = COMPOSE["services"]
    assert services["db"]["image"].startswith("postgres")
    for name in ("api", "worker", "migrate"):
        assert services[name]["command"][0] in command_names(), name


def test_the_image_entry_point_is_the_bgcheck_command() -> None:
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]', DOCKERFILE, re.MULTILINE)
    command = re.search(r'^CMD \["([^"]+)"', DOCKERFILE, re.MULTILINE)
    assert entrypoint is not None
    assert command is not None
    assert entrypoint.group(1) in PYPROJECT["project"]["scripts"]
    assert command.group(1) in command_names()


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    final_stage = DOCKERFILE.split("\nFROM ")[-1]
    assert re.search(r"^USER (?!root)\w+", final_stage, re.MULTILINE)
    assert "HEALTHCHECK" in final_stage
    assert "build-essential" not in final_stage
