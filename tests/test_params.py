"""Params layer: every committed params file loads; each kind of bad input is refused with the file, the key path
and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from templates.config import FARGATE_SIZES, EnvParams, ParamsError, environments, load_params

ROOT = Path(__file__).resolve().parent.parent


def test_every_committed_environment_loads():
    envs = environments()
    assert {"dev", "prod"} <= set(envs)
    for env in envs:
        p = load_params(env)
        assert isinstance(p, EnvParams) and p.env == env


def _base(env: str) -> dict:
    return yaml.safe_load((ROOT / "params" / f"{env}.yaml").read_text())


def _set(d: dict, dotted: str, value) -> dict:
    d = copy.deepcopy(d)
    cur = d
    *parents, last = dotted.split(".")
    for k in parents:
        cur = cur.setdefault(k, {})
    if value is _DELETE:
        del cur[last]
    else:
        cur[last] = value
    return d


class _Delete:
    """Marks a key to delete. Its repr is fixed, so parametrized test ids are the same in every process (pytest-xdist
    requires every worker to collect the same ids; an ``object()`` would put its memory address into them)."""

    def __repr__(self) -> str:
        return "DELETE"


_DELETE = _Delete()


def _refusal(tmp_path: Path, env: str, data) -> ParamsError:
    params = tmp_path / "params"
    params.mkdir(exist_ok=True)
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    (params / f"{env}.yaml").write_text(text)
    with pytest.raises(ParamsError) as e:
        load_params(env, params)
    return e.value


# (base env, key to set, value, expected key path, expected words in the message)
BAD = [
    ("dev", "tasks", {"cpu": 1024}, "tasks", "unknown key"),
    ("dev", "task.cpuu", 1024, "task.cpuu", "unknown key"),
    ("prod", "service.enable_execute_command", True, "service.enable_execute_command",
     "renamed to service.debug_shell"),
    ("dev", "task.memory", 3000, "task.memory", "allowed: 2048, 3072, 4096, 5120, 6144, 7168, 8192"),
    ("dev", "task.cpu", 4096, "task.memory", "allowed: 8192 to 30720 in steps of 1024"),
    ("dev", "task.cpu", 1000, "task.cpu", "not a Fargate CPU size"),
    ("dev", "task.memory", 1024, "task.memory", "not valid with 1024 CPU units"),
    ("dev", "containers.app.memory", 1800, "containers", "exceeds the task's 2048 MiB"),
    ("dev", "containers.app.cpu", 900, "containers", "exceeds the task's 1024 units"),
    ("dev", "containers.qdrant.port", 8000, "containers.qdrant.port", "ports must differ"),
    ("dev", "service.desired_count", 2, "service.desired_count", "RocksDB lock"),
    ("prod", "network.vpc_id", "vpc-12", "network.vpc_id", "does not match the allowed format"),
    ("prod", "network.subnet_ids", ["subnet-677d281e", "sub-1"], "network.subnet_ids[1]", "does not match"),
    ("prod", "network.subnet_ids", ["subnet-677d281e", "subnet-677d281e"], "network.subnet_ids", "duplicate subnet"),
    ("prod", "network.subnet_ids", ["subnet-677d281e"], "network.subnet_ids", "at least two availability zones"),
    ("prod", "account_id", "01802561140", "account_id", "does not match"),
    ("prod", "domain.certificate_arn", "arn:aws:acm:us-west-2:018025611404:cert/x", "domain.certificate_arn",
     "does not match"),
    ("prod", "secrets.OPENAI_API_KEY.arn", "arn:aws:secretsmanager:us-west-2:1:secret:x", "secrets.OPENAI_API_KEY.arn",
     "does not match"),
    ("prod", "domain", _DELETE, "domain", "must serve HTTPS"),
    ("prod", "production", False, "production", "must set `production: true`"),
    ("prod", "image.default_tag", "latest", "image.default_tag", "does not match"),
    ("dev", "containers.qdrant.image", "qdrant/qdrant:latest", "containers.qdrant.image", "does not match"),
    ("dev", "logs.retention_days", 10, "logs.retention_days", "must be one of 1, 3, 5"),
    ("dev", "storage.throughput_mode", "fast", "storage.throughput_mode",
     "expected 'bursting', 'elastic' or 'provisioned'"),
    ("dev", "storage.throughput_mode", "provisioned", "storage.provisioned_throughput_mibps",
     "required with throughput_mode"),
    ("dev", "network.vpc_id", "vpc-7b44bd03", "network", "not both"),
    ("dev", "network.create.cidr", "10.0.0.0/8", "network.create.cidr", "between /16 and /24"),
    ("dev", "secrets.EXTRA_KEY", {"description": "neither name nor arn"}, "secrets.EXTRA_KEY",
     "exactly one of `name` or `arn`"),
    ("dev", "secrets.JWT_SECRET.arn", "arn:aws:secretsmanager:us-west-2:018025611404:secret:x-AbCdEf",
     "secrets.JWT_SECRET",
     "give it a `name`, not an `arn`"),
    ("dev", "secrets.APP_ENV", {"name": "x"}, "secrets.APP_ENV", "also a plain environment variable"),
    ("dev", "image", _DELETE, "image", "required key is missing"),
    # the UNCONFIRMED sentinel is accepted only where the model types it (SecretRef.arn, Ci.github_repository)
    ("prod", "network.vpc_id", "UNCONFIRMED", "network.vpc_id", "does not match"),
    ("prod", "image.repository", "UNCONFIRMED", "image.repository", "does not match"),
    ("prod", "secrets.JWT_SECRET.arn", "unconfirmed", "secrets.JWT_SECRET.arn", "does not match"),
    # a dynamic reference to a secret would resolve into the task definition in clear text
    ("dev", "containers.app.environment.OPENAI_KEY", "{{resolve:secretsmanager:wwhd/openai:SecretString}}",
     "containers.app.environment", "OPENAI_KEY: a {{resolve:secretsmanager:...}}"),
    ("dev", "containers.app.environment.DB_PASSWORD", "pre-{{resolve:ssm-secure:/wwhd/db:1}}",
     "containers.app.environment", "under `secrets:`"),
    ("dev", "containers.qdrant.environment.QDRANT__SERVICE__API_KEY", "{{RESOLVE:SecretsManager:qdrant}}",
     "containers.qdrant.environment", "plain text"),
]


@pytest.mark.parametrize("env,key,value,loc,words", BAD, ids=[f"{b[1]}={b[2]!r}"[:60] for b in BAD])
def test_bad_value_is_refused_with_key_path_and_reason(tmp_path, env, key, value, loc, words):
    err = _refusal(tmp_path, env, _set(_base(env), key, value))
    text = err.render()
    assert text.startswith(str(tmp_path / "params" / f"{env}.yaml") + ": ") or f"params/{env}.yaml: " in text
    assert any(p.loc == loc and words in p.message for p in err.problems), text


def test_unconfirmed_names_each_key_that_still_holds_the_sentinel(tmp_path):
    from templates.config import UNCONFIRMED, unconfirmed

    assert unconfirmed(load_params("prod")) == ["secrets.JWT_SECRET.arn", "secrets.OPENAI_API_KEY.arn",
                                                 "ci.github_repository"]
    assert unconfirmed(load_params("dev")) == []
    confirmed = _set(_base("prod"), "ci.github_repository", "wwhd/wwhd-backend")
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(confirmed))
    assert "ci.github_repository" not in unconfirmed(load_params("prod", tmp_path))
    assert UNCONFIRMED in (ROOT / "params" / "schema.json").read_text()


def test_every_problem_is_reported_at_once(tmp_path):
    data = _set(_set(_base("dev"), "task.memory", 3000), "service.desired_count", 3)
    err = _refusal(tmp_path, "dev", data)
    assert {p.loc for p in err.problems} == {"task.memory", "service.desired_count"}


@pytest.mark.parametrize("text,words", [
    ("", "the file is empty"),
    ("region: [unclosed\n", "not valid YAML: line 2"),
    ("- a list\n", "top level must be a mapping"),
    ("env: prod\nregion: us-west-2\n", "do not set `env`"),
])
def test_unusable_file_is_refused(tmp_path, text, words):
    assert words in _refusal(tmp_path, "dev", text).render()


def test_unknown_environment_lists_the_known_ones(tmp_path):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "dev.yaml").write_text(yaml.safe_dump(_base("dev")))
    with pytest.raises(ParamsError) as e:
        load_params("staging", tmp_path / "params")
    assert "no such environment 'staging'" in e.value.render() and "dev" in e.value.render()


def test_fargate_table_matches_the_documented_ranges():
    """ECS Developer Guide, "Task CPU and memory": e.g. 1024 CPU allows 2 GB to 8 GB in 1 GB steps."""
    assert FARGATE_SIZES[1024] == tuple(range(2048, 8193, 1024))
    assert FARGATE_SIZES[256] == (512, 1024, 2048)
    assert FARGATE_SIZES[8192][0] == 16384 and FARGATE_SIZES[8192][-1] == 61440


def test_no_secret_values_in_params():
    """Secrets are names, ARNs or `generate: true`; the model has no field that could hold a value."""
    from templates.config import SecretRef

    assert set(SecretRef.model_fields) == {"name", "arn", "generate", "description"}


def test_schema_json_is_committed_and_current():
    import json

    from templates.config import json_schema

    committed = json.loads((ROOT / "params" / "schema.json").read_text())
    assert committed == json_schema()
    assert "env" not in committed["properties"]


def test_a_plain_dynamic_reference_to_a_parameter_is_allowed(tmp_path):
    """{{resolve:ssm:...}} (a plain String parameter) is not a secret: it stays allowed."""
    from templates.config import load_params

    data = _set(_base("dev"), "containers.app.environment.FEATURE", "{{resolve:ssm:/wwhd/feature}}")
    folder = tmp_path / "params"
    folder.mkdir()
    (folder / "dev.yaml").write_text(yaml.safe_dump(data))
    assert load_params("dev", folder).containers.app.environment["FEATURE"] == "{{resolve:ssm:/wwhd/feature}}"
