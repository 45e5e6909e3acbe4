"""The fault tests' one fixture: scenarios (tests.harness.send_scenario), each stopped with
everything it started."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from mailer.runtime import Runtime
from tests.harness.send_scenario import Scenario, build_scenario


@pytest.fixture
def make_scenario(
    app: Flask, rt: Runtime, test_env: dict[str, str], session: Session, tmp_path: Path
) -> Iterator[Callable[..., Scenario]]:
    made: list[Scenario] = []

    def make(**options: Any) -> Scenario:
        scenario = build_scenario(app, rt, test_env, tmp_path / f"scenario{len(made)}", **options)
        made.append(scenario)
        return scenario

    yield make
    try:
        for scenario in reversed(made):
            scenario.close()
    finally:
        app.extensions["celery"].set_default()  # create_app made the scenario's the default
