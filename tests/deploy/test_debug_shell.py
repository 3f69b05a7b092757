"""service.debug_shell end to end against the local server: turning it on is reviewed like any change, and the plan
review says what it opens (ECS Exec for whoever may call ecs:ExecuteCommand, writable root file systems); turning it
back narrows. The rendered task definitions of both modes are checked in tests/test_structure.py."""

from __future__ import annotations

import json

from .test_plan_diff import edit_params


def test_the_review_says_what_the_debug_shell_opens_and_turning_it_back_narrows(moto, project, cli):
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    assert cli("apply", "--env", "dev", "--image-tag", "v1", "--yes").code == 0

    edit_params(project, service={"debug_shell": True})
    boot = cli("bootstrap", "--env", "dev", "--yes")  # the task role gains the ECS Exec channels
    assert boot.code == 0, boot.err
    assert "identity/TaskRole policy task EcsExecChannels (Allow)  WIDENS: new Allow statement" in boot.out
    on = cli("plan", "--env", "dev", "--json", "on.json")
    assert on.code == 0, on.err
    assert ("~ service/Service ECS Exec EnableExecuteCommand  WIDENS: ECS Exec on: whoever may call "
            "ecs:ExecuteCommand on this service's tasks gets a shell in each container") in on.out
    assert "access widens" in on.out
    data = json.loads((project / "on.json").read_text())
    assert data["widens"] is True
    [exec_change] = [c for c in data["iam"] if c["type"] == "AWS::ECS::Service"]
    assert exec_change["verdict"] == "widens" and exec_change["added"] == {"EnableExecuteCommand": ["true"]}
    assert cli("apply", "--env", "dev", "--yes").code == 0

    edit_params(project, service={"debug_shell": False})  # back to the hardened task
    assert cli("bootstrap", "--env", "dev", "--yes").code == 0
    off = cli("plan", "--env", "dev")
    assert off.code == 0, off.err
    assert "~ service/Service ECS Exec EnableExecuteCommand  NARROWS: ECS Exec off: no shell into the task" in off.out
