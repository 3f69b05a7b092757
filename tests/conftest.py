"""Shared fixtures: params and built templates of the committed environments, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from templates import build_all
from templates.config import environments, load_params

ROOT = Path(__file__).resolve().parent.parent
ENVS = environments()


@pytest.fixture(scope="session")
def repo() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built() -> dict[str, dict[str, dict]]:
    """``{env: {stem: template dict}}`` for every params file."""
    return {env: {stem: t.to_dict() for stem, t in build_all(load_params(env)).items()} for env in ENVS}


@pytest.fixture(scope="session")
def prod(built) -> dict[str, dict]:
    return built["prod"]


@pytest.fixture(scope="session")
def dev(built) -> dict[str, dict]:
    return built["dev"]
