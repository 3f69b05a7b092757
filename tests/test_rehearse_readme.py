"""README.md lists the rehearsal's open questions exactly as scripts/rehearse.py checks them, in its order."""

from __future__ import annotations

from pathlib import Path

from scripts.rehearse import OPEN_QUESTIONS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_readme_lists_the_rehearsals_open_questions_in_its_order():
    section = README.split("## What the local server cannot rehearse", 1)[1].split("\n## ", 1)[0]
    listed = section.split("keeps the two equal):", 1)[1].strip().split("\n\n", 1)[0]
    assert listed.splitlines() == [f"- {q}" for q in OPEN_QUESTIONS.values()]


def test_the_rehearsal_section_is_linked_from_what_the_local_server_cannot_rehearse():
    section = README.split("## What the local server cannot rehearse", 1)[1].split("\n## ", 1)[0]
    assert "(#rehearsal-in-a-scratch-account)" in section
    assert "\n## Rehearsal in a scratch account\n" in README


def test_every_open_question_appears_in_the_sections_own_list():
    """Each check answers a question the section already names (same words, case aside)."""
    section = README.split("## What the local server cannot rehearse", 1)[1].split("keeps the two equal", 1)[0].lower()
    for words in ("nested change sets", "the policy simulator's answers", "`cloudformation:changesetname`",
                  "github's `sub` claim", "`aws:resourcetag` on `clientmount`", "`s3:deleteobject`",
                  "`review_in_progress` identity stack", "ecs exec on the task as deployed",
                  "qdrant honouring its init-file path", "a real\n  `migrate-data`", "drift detection",
                  "the deploy's real downtime"):
        assert words in section, words
