"""Running syncs: one run per mailbox at a time, many mailboxes at once (in-process by default)."""

from __future__ import annotations

from calsync.runtime.runner import MailboxOutcome, Progress, Runner, acquire, this_process

__all__ = ["MailboxOutcome", "Progress", "Runner", "acquire", "this_process"]
