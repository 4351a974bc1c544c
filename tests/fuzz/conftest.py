from __future__ import annotations

from collections.abc import Iterator

import hypothesis.core
import pytest
from schemathesis.generation import hypothesis as schemathesis_hypothesis

from api.app import create_app
from bgcheck.platform import migrate
from bgcheck.platform.db import make_engine
from bgcheck.platform.settings import Settings

from support.fuzz import Seeded, seed


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A seeded app on its own SQLite database, one per fuzz module (support/fuzz.py)."""
    folder = tmp_path_factory.mktemp("fuzz")
    settings = Settings(data_dir=folder, embedded_worker=False)
    engine = make_engine(settings, url=f"sqlite:///{folder / 'fuzz.db'}")
    migrate.upgrade(engine)
    seeded = seed(create_app(settings, engine), engine)
    seeded.save(folder / "seeded.db")
    yield seeded
    engine.dispose()


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_prints_again() -> Iterator[None]:
    """schemathesis swaps Hypothesis's printer of falsifying examples for a silent one, for
    the whole process (a speed-up for its own runs): the rest of the suite gets it back."""
    printer = hypothesis.core.RepresentationPrinter
    yield
    hypothesis.core.RepresentationPrinter = printer  # type: ignore[misc]
    schemathesis_hypothesis.setup._is_patched = False  # type: ignore[attr-defined]
