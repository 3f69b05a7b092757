"""Walking rendered templates: the few helpers every rule over template dicts shares.

A template here is a plain dict (``{stem: template}`` for an environment), the shape ``generate.py`` renders and a
deploy reads back from S3 or ``GetTemplate``; nothing here imports troposphere.
"""

from __future__ import annotations

from collections.abc import Iterator

Templates = dict[str, dict]


def resources(templates: Templates, type_: str | None = None) -> Iterator[tuple[str, str, dict]]:
    """``(stem, logical id, resource)`` for every resource of the environment, or only those of ``type_``."""
    for stem, t in templates.items():
        for rid, r in t.get("Resources", {}).items():
            if type_ is None or r["Type"] == type_:
                yield stem, rid, r


def props(r: dict) -> dict:
    """A resource's ``Properties`` (empty when it has none)."""
    return r.get("Properties", {})


def listify(v) -> list:
    """A policy field that may be one value or a list (``Action``, ``Resource``, ``Statement``), as a list."""
    return v if isinstance(v, list) else [v]
