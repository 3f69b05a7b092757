"""Params read defensively: files that YAML accepts but Python chokes on, files that are not files, oversized files,
duplicate keys, typos, derived errors. Each case: the exact line printed (file, key path, problem, what is allowed),
exit code 2 from the CLI, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import generate
from templates import _params_file
from templates.config import ParamsError, load_params

ROOT = Path(__file__).resolve().parent.parent
DEV = (ROOT / "params" / "dev.yaml").read_text()
REGION_FORMAT = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
ALLOWED_VALUES = "plain text, numbers, true/false, null, lists and mappings"


@pytest.fixture()
def project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "params").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = generate.main(["--env", "dev", "--no-lint", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    if code != 2:
        return code, out.err
    # the boundary's frame (deploy/errors.py): "error: " before the first problem, one "fix:" line last
    lines = out.err.splitlines()
    assert (lines[0].startswith("error: ")
            and lines[-1] == "fix: correct the file named above (README, Params reference)")
    return code, "\n".join([lines[0].removeprefix("error: "), *lines[1:-1]]) + "\n"


def _refused(project: Path, capsys, content: str | bytes) -> list[str]:
    """Write params/dev.yaml, run the CLI: exit 2, nothing written; the printed lines."""
    f = project / "params" / "dev.yaml"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, err = _cli(capsys)
    assert code == 2, err
    assert not (project / "output").exists()
    return err.splitlines()


def _dev(**replace: str) -> str:
    text = DEV
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# --- values YAML accepts and Python does not --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2020-13-45", "2020-01-01", "2001-12-14t21:59:43.10-05:00"])
def test_date_like_value_is_text_and_fails_the_format(project, capsys, value):
    """PyYAML turns 2020-01-01 into a date and raises ValueError for 2020-13-45; both are text here."""
    lines = _refused(project, capsys, _dev(**{"region: us-west-2": f"region: {value}"}))
    assert lines == [f"params/dev.yaml: region: {value!r} does not match the allowed format {REGION_FORMAT}"]


def test_explicit_timestamp_tag_is_refused(project, capsys):
    lines = _refused(project, capsys, _dev(**{"region: us-west-2": "region: !!timestamp 2020-01-01"}))
    assert lines == [f"params/dev.yaml: region: line 3: the tag !!timestamp is not allowed; allowed: {ALLOWED_VALUES}"]


def test_oversized_integer_is_one_line(project, capsys):
    """A 5000-digit int passed Python's int max str digits (ValueError) inside PyYAML."""
    lines = _refused(project, capsys, _dev(**{"desired_count: 0": "desired_count: " + "9" * 5000}))
    line = DEV.splitlines().index("  desired_count: 0") + 1
    assert lines == [f"params/dev.yaml: service.desired_count: line {line}: a number of 5000 characters is too large; "
                     "allowed: at most 20 characters"]


def test_oversized_integer_key_is_one_line(project, capsys):
    lines = _refused(project, capsys, "region: us-west-2\n" + "9" * 1000 + ": 1\n")
    assert lines == ["params/dev.yaml: " + repr("9" * 1000)[:28] + "..."
                     + repr("9" * 1000)[-29:] + ": line 2: as a key, "
                     "a number of 1000 characters is too large; allowed: at most 20 characters"]


def test_deep_flow_nesting_is_one_line(project, capsys):
    """5000 levels were a RecursionError in PyYAML's composer."""
    lines = _refused(project, capsys, "region: " + "[" * 5000 + "]" * 5000 + "\n")
    assert lines == ["params/dev.yaml: region" + "[0]" * 20 + ": line 1: nested deeper than 20 levels; "
                     "allowed: at most 20 (the params model has 4)"]


def test_deep_block_nesting_names_the_key_path(project, capsys):
    text = "region: us-west-2\nnetwork:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(500))
    lines = _refused(project, capsys, text)
    assert lines == ["params/dev.yaml: network" + ".a" * 20 + ": line 23: nested deeper than 20 levels; "
                     "allowed: at most 20 (the params model has 4)"]


def test_alias_cycle_is_bounded(project, capsys):
    lines = _refused(project, capsys, "a: &a [*a]\n")
    assert lines == ["params/dev.yaml: a" + "[0]" * 20 + ": line 1: nested deeper than 20 levels (through aliases); "
                     "allowed: at most 20"]


def test_billion_laughs_is_refused_before_expanding(project, capsys):
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    lines = _refused(project, capsys, "\n".join(rows) + "\n")
    assert lines == ["params/dev.yaml: holds more than 20000 values (counting each use of an alias); "
                     "allowed: a params file holds about a hundred"]


@pytest.mark.parametrize("text,loc,tag", [
    ("image: !!binary aGVsbG8=\n", "image", "!!binary"),
    ("region: !Ref Region\n", "region", "!Ref"),
    ("secrets: !!set {A: null}\n", "secrets", "!!set"),
])
def test_tags_other_than_plain_ones_are_refused(project, capsys, text, loc, tag):
    lines = _refused(project, capsys, text)
    assert lines == [f"params/dev.yaml: {loc}: line 1: the tag {tag} is not allowed; allowed: {ALLOWED_VALUES}"]


def test_a_key_that_is_a_list_is_refused(project, capsys):
    lines = _refused(project, capsys, "region: us-west-2\n? [a]\n: 1\n")
    assert lines == ["params/dev.yaml: (top level): line 2: a key must be a plain name, not a list"]


@pytest.mark.parametrize("content,line", [
    (b"region: us-west-2\x00\n",
     "params/dev.yaml: not valid YAML: character '\\x00' at offset 17 is not allowed in YAML"),
    (b"\xff\xfe", "params/dev.yaml: is not UTF-8 text: byte 0xff at offset 0"),
    (b"---\na: 1\n---\nb: 1\n", "params/dev.yaml: not valid YAML: line 3, column 1: expected a single document in the "
                              "stream: but found another document"),
    (b'region: "open\n', "params/dev.yaml: not valid YAML: line 2, column 1: while scanning a quoted scalar: "
                         "found unexpected end of stream"),
])
def test_unreadable_yaml_is_one_line(project, capsys, content, line):
    assert _refused(project, capsys, content) == [line]


# --- duplicate keys -----------------------------------------------------------------------------------------------


def test_duplicate_key_is_refused_with_both_lines(project, capsys):
    """SafeLoader keeps the later `service:` silently; the file's author meant one of them."""
    text = _dev() + "service:\n  desired_count: 1\n"
    first = DEV.splitlines().index("service:") + 1
    again = len(DEV.splitlines()) + 1
    lines = _refused(project, capsys, text)
    assert lines == [f"params/dev.yaml: service: duplicate key: at line {first} and again at line {again}; "
                     "YAML would silently keep only the later one: remove one"]


def test_nested_duplicate_key_names_its_path(project, capsys):
    text = _dev(**{"  desired_count: 0\n": "  desired_count: 0\n  desired_count: 1\n"})
    line = DEV.splitlines().index("  desired_count: 0") + 1
    lines = _refused(project, capsys, text)
    assert lines == [f"params/dev.yaml: service.desired_count: duplicate key: at line {line} and again at line "
                     f"{line + 1}; YAML would silently keep only the later one: remove one"]


def test_merge_keys_may_be_overridden(project):
    """`<<: *base` then an explicit key is YAML's override, not a duplicate."""
    text = _dev(**{"service:\n  desired_count: 0\n": "base: &b {desired_count: 1}\nservice:\n  <<: *b\n  "
                                                     "desired_count: 0\n"})
    (project / "params" / "dev.yaml").write_text(text)
    with pytest.raises(ParamsError) as e:
        load_params("dev", project / "params")
    assert [(p.loc, p.message.split(";")[0]) for p in e.value.problems] == [("base", "unknown key")]


# --- unknown keys: a close name is suggested -----------------------------------------------------------------------


@pytest.mark.parametrize("add,loc,message", [
    ("servce:\n  desired_count: 0\n", "servce", "unknown key; did you mean 'service'?"),
    ("task:\n  cpuu: 1024\n", "task.cpuu", "unknown key; did you mean 'cpu'?"),
    ("containers:\n  app:\n    prot: 8000\n", "containers.app.prot", "unknown key; did you mean 'port'?"),
    ("secrets:\n  JWT_SECRET:\n    nmae: x\n    generate: true\n", "secrets.JWT_SECRET.nmae",
     "unknown key; did you mean 'name'?"),
    ("surprise: 1\n", "surprise", "unknown key; allowed: app, production, account_id, region, network, image, task, "
                                  "containers, secrets, service, storage, logs, cluster, load_balancer, domain, "
                                  "monitoring, ci"),
])
def test_unknown_key_suggests_a_close_name(project, capsys, add, loc, message):
    base = "region: us-west-2\nnetwork: {create: {}}\nimage: {repository: r, default_tag: t}\n"
    assert _refused(project, capsys, base + add) == [f"params/dev.yaml: {loc}: {message}"]


def test_odd_keys_are_quoted_and_control_characters_escaped(project, capsys):
    base = "region: us-west-2\nnetwork: {create: {}}\nimage: {repository: r, default_tag: t}\n"
    lines = _refused(project, capsys, base + '"\\e[2J x": 1\n')
    assert lines[0].startswith("params/dev.yaml: '\\x1b[2J x': unknown key; allowed: app, ")
    assert "\x1b" not in "\n".join(lines)


def test_a_huge_value_is_shortened_in_the_message(project, capsys):
    lines = _refused(project, capsys, _dev(**{"region: us-west-2": "region: " + "a" * 5000}))
    assert lines == [f"params/dev.yaml: region: {'a' * 27!r}"[:-1] + "..." + f"{'a' * 28!r}"[1:]
                     + f" does not match the allowed format {REGION_FORMAT}"]


# --- derived errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("replace,expected", [
    # task.cpu 100 also makes "containers: CPU 768 + 256 exceeds the task's 100 units": the same mistake, said worse
    ({"  family: wwhd-backend-dev\n": "  family: wwhd-backend-dev\n  cpu: 100\n"},
     ["task.cpu: 100 is not a Fargate CPU size; allowed: 256, 512, 1024, 2048, 4096, 8192, 16384"]),
    # task.memory 1024 with 1024 CPU also makes "containers: memory 1536 + 512 exceeds the task's 1024 MiB"
    ({"  family: wwhd-backend-dev\n": "  family: wwhd-backend-dev\n  memory: 1024\n"},
     ["task.memory: 1024 MiB is not valid with 1024 CPU units on Fargate; allowed: 2048, 3072, 4096, 5120, 6144, "
      "7168, 8192"]),
    # a type error is reported with the rules the rest of the file breaks, but no rule that reads task.cpu runs
    ({"  family: wwhd-backend-dev\n": "  family: wwhd-backend-dev\n  cpu: big\n",
      "desired_count: 0": "desired_count: 3"},
     ["task.cpu: Input should be a valid integer, unable to parse string as an integer",
      "service.desired_count: 3 tasks would all write the one SQLite file and Qdrant storage on EFS (Qdrant fails "
      "with a RocksDB lock error, SQLite over NFS corrupts); allowed: 0 or 1"]),
    # a malformed subnet is not also "fewer than two subnets" or "duplicate subnet"
    ({"  create:\n    cidr: 10.40.0.0/16\n    az_count: 2\n": "  vpc_id: vpc-7b44bd03\n  subnet_ids: "
                                                              "[subnet-1, subnet-1]\n"},
     [f"network.subnet_ids[{i}]: 'subnet-1' does not match the allowed format ^subnet-([0-9a-f]{{8}}|[0-9a-f]{{17}})$"
      for i in (0, 1)]),
])
def test_derived_errors_are_not_reported(project, capsys, replace, expected):
    lines = _refused(project, capsys, _dev(**replace))
    assert lines == [f"params/dev.yaml: {e}" for e in expected]


def test_problems_printed_are_capped(project, capsys):
    """Tens of thousands of problems in a large file: the first 20, then how many more."""
    lines = _refused(project, capsys, _dev() + "".join(f"extra{i}: 1\n" for i in range(100)))
    assert len(lines) == 21
    assert lines[0].startswith("params/dev.yaml: extra0: unknown key")
    assert lines[-1] == "params/dev.yaml: ... and 80 more problems (fix these first)"
    with pytest.raises(ParamsError) as e:
        load_params("dev", project / "params")
    assert len(e.value.problems) == 100


# --- paths that are not regular files, size -----------------------------------------------------------------------


def test_directory_is_named_as_such(project, capsys):
    (project / "params" / "dev.yaml").mkdir()
    code, err = _cli(capsys)
    assert code == 2
    assert err == "params/dev.yaml: is a directory, not a regular file; a params file is a YAML file\n"


def test_fifo_is_named_without_opening_it(project):
    """Opening a FIFO for reading blocks until a writer comes: the CLI must answer at once (run apart: no hang)."""
    os.mkfifo(project / "params" / "dev.yaml")
    r = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--env", "dev"], cwd=project, capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stderr) == (2, "error: params/dev.yaml: is a named pipe (FIFO), not a regular file; "
                                           "a params file is a YAML file\n"
                                           "fix: correct the file named above (README, Params reference)\n")


def test_broken_symlink_is_named_as_such(project, capsys):
    (project / "params" / "dev.yaml").symlink_to(project / "gone.yaml")
    code, err = _cli(capsys)
    assert code == 2
    assert err == f"params/dev.yaml: is a symbolic link to {project / 'gone.yaml'}, which does not exist\n"


def test_symlink_loop_is_named(project, capsys):
    (project / "params" / "dev.yaml").symlink_to(project / "params" / "dev.yaml")
    code, err = _cli(capsys)
    assert code == 2
    assert err == "params/dev.yaml: cannot be read: Too many levels of symbolic links\n"


def test_symlink_to_a_good_file_loads(project):
    (project / "elsewhere.yaml").write_text(DEV)
    (project / "params" / "dev.yaml").symlink_to(project / "elsewhere.yaml")
    assert load_params("dev", project / "params").env == "dev"


def test_unreadable_file_says_permission_denied(project, capsys, monkeypatch):
    (project / "params" / "dev.yaml").write_text(DEV)
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith("dev.yaml"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_params_file.os, "open", refuse)
    code, err = _cli(capsys)
    assert code == 2
    assert err == "params/dev.yaml: cannot be read: permission denied (check the file's permissions)\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_for_real(project, capsys):
    f = project / "params" / "dev.yaml"
    f.write_text(DEV)
    f.chmod(0)
    code, err = _cli(capsys)
    assert code == 2 and "cannot be read: permission denied" in err


def test_oversized_file_is_refused_before_reading(project, capsys, monkeypatch):
    (project / "params" / "dev.yaml").write_bytes(b"#" * (_params_file.MAX_BYTES + 1))
    monkeypatch.setattr(_params_file.os, "read", lambda *a: pytest.fail("read an oversized file"))
    code, err = _cli(capsys)
    assert code == 2
    assert err == ("params/dev.yaml: is 1048577 bytes; allowed: at most 1048576 bytes (1 MiB), "
                   "a params file is a few KiB\n")


def test_file_of_exactly_the_limit_loads(project):
    text = DEV + "#" * (_params_file.MAX_BYTES - len(DEV.encode()) - 1) + "\n"
    (project / "params" / "dev.yaml").write_text(text)
    assert os.path.getsize(project / "params" / "dev.yaml") == _params_file.MAX_BYTES
    assert load_params("dev", project / "params").env == "dev"


def test_file_growing_after_the_size_check_is_still_bounded(project, monkeypatch):
    """The size is checked again while reading: at most MAX_BYTES + 1 bytes are ever read."""
    f = project / "params" / "dev.yaml"
    f.write_bytes(b"#" * (3 * _params_file.MAX_BYTES))
    real_stat = os.stat
    monkeypatch.setattr(_params_file.os, "stat", lambda p, *a, **k: os.stat_result(
        (*real_stat(p)[:6], 100, *real_stat(p)[7:])) if str(p).endswith("dev.yaml") else real_stat(p, *a, **k))
    read = []
    real_read = os.read
    monkeypatch.setattr(_params_file.os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    with pytest.raises(ParamsError) as e:
        load_params("dev", project / "params")
    assert e.value.render() == (f"{e.value.path}: is more than 1048576 bytes; allowed: at most 1048576 bytes (1 MiB), "
                                "a params file is a few KiB")
    assert sum(read) <= _params_file.MAX_BYTES + 1


# --- anything else: a ParamsError, never another exception ---------------------------------------------------------

PIECES = ["\n", " ", "  ", ":", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: ", "!!", "!x ", "'", '"', "#",
          "?", "|", ">", "---\n", "\t", "\\", "%YAML 1.1\n", "0x", "1e999", "9" * 30, "2020-13-45", "\x00", "\u2028",
          "~", "null", "yes", ".nan", "\ufeff", "\xe9"]


def test_mutated_params_only_ever_give_params_errors(tmp_path):
    """Deterministic fuzzing: 800 random edits of dev.yaml load or fail with ParamsError (one line per problem)."""
    import random

    rng = random.Random(6)
    (tmp_path / "params").mkdir()
    f = tmp_path / "params" / "dev.yaml"
    outcomes = set()
    for _ in range(800):
        text = DEV
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            cut = rng.choice([0, 0, 1, rng.randint(1, 40)])
            text = text[:at] + rng.choice(PIECES) + text[at + cut:]
        f.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_params("dev", tmp_path / "params")
            outcomes.add("loaded")
        except ParamsError as e:
            rendered = e.render()
            assert 1 <= len(rendered.splitlines()) <= ParamsError.SHOWN + 1
            assert all(line.startswith(str(f)) for line in rendered.splitlines()), rendered
            outcomes.add("refused")
    assert outcomes == {"loaded", "refused"}
