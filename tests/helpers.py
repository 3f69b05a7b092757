"""Small CDK-assertions-style helpers over template dicts (``Template.to_dict()``)."""

from __future__ import annotations


def resources(t: dict, type_: str) -> dict[str, dict]:
    """Every resource of a type: ``{logical id: resource}``."""
    return {rid: r for rid, r in t.get("Resources", {}).items() if r["Type"] == type_}


def only(t: dict, type_: str) -> dict:
    """The one resource of a type (fails if there are none or several)."""
    found = resources(t, type_)
    assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
    return next(iter(found.values()))


def props(r: dict) -> dict:
    return r.get("Properties", {})


def assert_subset(expected, actual, path: str = "") -> None:
    """``expected`` is contained in ``actual``: dict keys recursively, lists item by item (same length)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path or '.'}: expected a mapping, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{path}.{k}: missing (have {sorted(actual)})"
            assert_subset(v, actual[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{path}: expected {expected!r}, got {actual!r}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def statements(role: dict) -> list[dict]:
    """All statements of a role's inline policies."""
    return [s for pol in props(role).get("Policies", []) for s in pol["PolicyDocument"]["Statement"]]


def actions(statement: dict) -> list[str]:
    a = statement["Action"]
    return a if isinstance(a, list) else [a]


def build_variant(tmp_path, env: str = "dev", **changes) -> dict[str, dict]:
    """``{stem: template dict}`` of a params variant: each ``a__b=value`` sets key path ``a.b`` in a copy of
    ``params/<env>.yaml`` (written to a fresh folder under ``tmp_path``, so one test can build several)."""
    from pathlib import Path

    import yaml

    from templates import build_all
    from templates.config import load_params

    data = yaml.safe_load((Path(__file__).resolve().parent.parent / "params" / f"{env}.yaml").read_text())
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    folder = tmp_path / f"params-{len(list(tmp_path.glob('params-*')))}"
    folder.mkdir()
    (folder / f"{env}.yaml").write_text(yaml.safe_dump(data))
    return {stem: t.to_dict() for stem, t in build_all(load_params(env, folder)).items()}
