"""Shared fixtures: params and built templates of the committed environments, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from templates import build_all
from templates.config import environments, load_params

ROOT = Path(__file__).resolve().parent.parent
ENVS = environments()


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_loader():
    """One botocore data loader per search path for the whole session. botocore reads its service models (large
    JSON files, about a second of CPU for a deploy's dozen clients) once per ``Session``, and every command a test
    runs makes a new ``boto3.Session`` (deploy/aws.py), as a new process would. The loader returns the same parsed
    data however often it is asked, so sharing it changes nothing but the time."""
    import botocore.session

    made: dict = {}
    real = botocore.session.create_loader

    def shared(search_path_string=None):
        if search_path_string not in made:
            made[search_path_string] = real(search_path_string)
        return made[search_path_string]

    patch = pytest.MonkeyPatch()
    patch.setattr(botocore.session, "create_loader", shared)
    yield
    patch.undo()


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
