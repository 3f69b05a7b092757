"""Fixtures for the deploy tests: a moto server on 127.0.0.1, a scratch project, the CLI, and a network fence.

No test here may reach AWS or any address off this machine: the environment gets dummy credentials,
``AWS_ENDPOINT_URL`` pointing at the local moto server and no shared config or credentials files (so ``~/.aws``
cannot matter), and :func:`_loopback_only` makes any other connection fail loudly.
"""

from __future__ import annotations

import contextvars
import logging
import shutil
import socket
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

import generate
from deploy import migrate
from deploy.ui import Poller

from . import moto_compat, moto_state

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
REGION = "us-west-2"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Refuse every name lookup and connection that is not this machine: a misconfigured test must not reach AWS,
    not even with a DNS query."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            raise ConnectionRefusedError(f"test tried to reach {address}; only loopback is allowed")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise socket.gaierror(f"test tried to resolve {host}; only loopback is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch, tmp_path_factory):
    """Dummy credentials, a region, no config files: whatever ~/.aws holds cannot leak in."""
    empty = tmp_path_factory.mktemp("aws-config")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: only `moto` tests get a server
    # moto's EC2 backend otherwise makes ~1,400 public AMIs, each with a volume and a snapshot, every time it starts:
    # on each reset of a test that used EC2, and in every saved state. Nothing here launches an instance.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(scope="session")
def moto_server():
    """One in-process moto server for the session, with the compatibility shims (tests/deploy/moto_compat.py)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for noisy in ("werkzeug", "moto"):  # request lines and "no CloudFormation support" notes on every call
        logging.getLogger(noisy).setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    restore = moto_compat.install()
    yield f"http://127.0.0.1:{port}"
    restore()
    server.stop()


@pytest.fixture
def moto(moto_server, monkeypatch):
    """A fresh moto state for one test, and AWS_ENDPOINT_URL pointing at it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A scratch project folder with the committed params: output/ written by tests lands here, not in the repo."""
    shutil.copytree(REPO / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    """Every Poller a command makes with the default sleep polls without sleeping (moto finishes operations before
    it answers); tests that pass their own sleep keep it. migrate-data's ECS waiter (deploy/migrate.py ``WAIT``)
    polls as often as before without its 6 s delay; tests that set their own ``WAIT`` keep it."""
    polls = []
    original = Poller.__init__

    def fast(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.sleep is time.sleep:
            self.sleep = polls.append

    monkeypatch.setattr(Poller, "__init__", fast)
    monkeypatch.setattr(migrate, "WAIT", {**migrate.WAIT, "Delay": 0})
    return polls


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``generate.py`` with arguments, as a user would; returns exit code and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            # in a copy of the context: the flags a run records (deploy.errors.INVOCATION) end with it, as they do
            # when the process exits, instead of reaching the next test in this worker
            code = contextvars.copy_context().run(generate.main, list(argv))
        except SystemExit as e:  # argparse errors
            code = e.code
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@dataclass
class Setup:
    """An end-to-end setup as it was left: moto's state, the project folder, and what the last command returned."""

    moto: moto_state.Saved
    project: Path
    result: Result


@pytest.fixture(scope="session")
def _setups(tmp_path_factory) -> dict[str, Setup]:
    """Setups made once in this test process (xdist: once per worker), by name (tests/deploy/moto_state.py)."""
    return {}


@pytest.fixture
def shared_setup(_setups, moto, project, tmp_path_factory):
    """``shared_setup(name, make)``: run ``make()`` (CLI commands against the fresh moto state in ``project``) the first
    time, and every later time start from a copy of what it left, moto's state and the project folder both, with the
    result it returned. ``make`` must depend on nothing but the committed params, the fixtures ``moto``, ``project``
    and ``cli``, and what the fixture calling it sets up alike for every test that uses it (a monkeypatch made before
    ``make`` runs is made again, by that fixture, for every later test; tests/deploy/moto_state.py)."""

    def get(name: str, make) -> Result:
        if name in _setups:
            setup = _setups[name]
            moto_state.restore(setup.moto)
            shutil.copytree(setup.project, project, dirs_exist_ok=True, symlinks=True)
            return Result(setup.result.code, setup.result.out, setup.result.err)
        result = make()
        saved = tmp_path_factory.mktemp(f"setup-{name}")
        shutil.copytree(project, saved, dirs_exist_ok=True, symlinks=True)
        _setups[name] = Setup(moto_state.save(), saved, Result(result.code, result.out, result.err))
        return result

    return get


@pytest.fixture
def deployed(moto, project, cli, shared_setup):
    """dev bootstrapped, planned and applied (image tag v1): the starting point of update tests. Made once per test
    process; each test gets its own copy (``shared_setup``)."""

    def make() -> Result:
        assert cli("bootstrap", "--env", "dev", "--yes").code == 0
        result = cli("apply", "--env", "dev", "--image-tag", "v1", "--yes")
        assert result.code == 0, result.out + result.err
        return result

    return shared_setup("deployed", make)


def confirm_prod(project: Path, **top) -> Path:
    """params/prod.yaml in the scratch project with its placeholders and UNCONFIRMED values replaced by real-looking
    ones (every command that talks to AWS refuses them, deploy/preflight.py); ``top`` sets top-level keys."""
    import yaml

    path = project / "params" / "prod.yaml"
    data = yaml.safe_load(path.read_text())
    data["domain"] = {"name": "api.wwhd-takeover.net", "hosted_zone_id": "Z0TAKEOVER0ZONE"}
    data["monitoring"]["alarm_email"] = "ops@wwhd-takeover.net"
    data["ci"]["github_repository"] = "wwhd/wwhd-backend"
    for var in data["secrets"]:
        data["secrets"][var]["arn"] = f"arn:aws:secretsmanager:{REGION}:018025611404:secret:wwhd-dev/{var}-AbCdEf"
    data.update(top)
    path.write_text(yaml.safe_dump(data))
    return path


def push_image(repository: str, *tags: str) -> None:
    """An image in moto's ECR under each tag (preflight requires the deployed tag whenever DesiredCount is 1)."""
    import json

    import boto3

    ecr = boto3.client("ecr", region_name=REGION)
    for tag in tags:
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                               "digest": "sha256:" + f"{tag:0>64}"[-64:].encode().hex()[:64]}, "layers": []}
        ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest))
