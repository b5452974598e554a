"""The mail desk example tells the story its docstring promises, as a user copying it sees it."""

from __future__ import annotations

import contextlib
import io
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

from aftersales import Desk, SQLiteStore

EXAMPLE = Path(__file__).parent.parent / "examples" / "mail_desk.py"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """The example's globals and what it printed, run as `python examples/mail_desk.py x.db`."""
    folder = tmp_path_factory.mktemp("mail_desk")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr(sys, "argv", [str(EXAMPLE), str(folder / "desk.db")])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            example = runpy.run_path(str(EXAMPLE), run_name="__main__")
    return example, out.getvalue()


def test_the_mail_opens_a_vip_ticket_with_its_photo_and_an_acknowledgement_in_chinese(
    story: tuple[dict[str, Any], str],
) -> None:
    example, out = story
    opened, ticket, photo = example["opened"], example["ticket"], example["photo"]
    assert (opened.outcome.value, opened.reason, opened.customer_id) == ("opened", "new", "c-wang")
    assert (photo.name, photo.content_type) == ("kettle.png", "image/png")
    assert "vip" in ticket.tags
    assert ticket.priority.value == "high"
    assert example["acknowledgement"] == "王芳，您好：我们已收到您关于 Ticket #1 的邮件。"
    assert f"sha256 {photo.sha256[:12]}" in out


def test_the_dry_run_says_why_the_safety_rule_would_not_fire(
    story: tuple[dict[str, Any], str],
) -> None:
    example, out = story
    verdict = example["verdict"]
    assert (verdict.rule, verdict.would_fire) == ("safety-first", False)
    assert (example["condition"].actual, example["condition"].passed) == ("high", False)
    assert "safety-first would fire: False (subject.severity is 'high'" in out


def test_the_reply_threads_onto_the_ticket_and_the_auto_reply_is_ignored(
    story: tuple[dict[str, Any], str],
) -> None:
    example, _ = story
    reply, away, ticket = example["reply"], example["away"], example["ticket"]
    assert (reply.outcome.value, reply.reason, reply.ticket_id) == (
        "threaded",
        "in_reply_to",
        ticket.id,
    )
    assert (away.outcome.value, away.reason, away.ticket_id) == ("ignored", "auto_submitted", None)
    with Desk(SQLiteStore(example["db"])) as desk:  # the example closed its own
        bodies = [message.body for message in desk.messages(ticket.id)]
    assert "补充：是底座漏水。" in bodies
    assert "我正在休假。" not in bodies


def test_the_breach_escalates_to_level_one_then_level_two(
    story: tuple[dict[str, Any], str],
) -> None:
    example, out = story
    assert example["levels"] == [1, 2]
    assert "level 1, assigned to team-lead" in out
    assert "level 2, assigned to supervisor" in out


def test_the_worker_sends_exactly_one_resolved_mail_in_chinese(
    story: tuple[dict[str, Any], str],
) -> None:
    example, out = story
    sent = example["mailer"].sent
    assert len(sent) == 1
    mail = sent[0]
    assert (mail.recipient.address, mail.language, mail.subject) == (
        "wang.fang@example.cn",
        "zh",
        "Ticket #1 已解决",
    )
    assert mail.body == "王芳，您好：\n新的密封圈已寄出，请查收。"
    assert "after resolve: 0 mail sent, ['mail-resolved'] waiting" in out
