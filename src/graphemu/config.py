"""Switchable behaviours and limits of the emulator.

Where Graph's documentation is silent (graph-facts marks it UNCONFIRMED) graphemu picks a default and
makes it switchable here; docs/graphemu.md lists each choice. Limits are the documented ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class FaultConfig:
    """Random faults and latency, deterministic under `seed` (the knobs of Dev Proxy's plugins)."""

    seed: int = 0
    rate: float = 0.0  # 0..1 share of Graph requests that fail
    statuses: tuple[int, ...] = (429, 500, 502, 503, 504, 507)  # 507 only on POST/PATCH/PUT, as Dev Proxy
    methods: tuple[str, ...] = ("GET", "POST", "PATCH", "PUT", "DELETE")
    retry_after: float = 5.0  # Retry-After sent with injected 429s (fractional allowed)
    latency_ms: float = 0.0  # added to every Graph request
    jitter_ms: float = 0.0  # uniform extra latency 0..jitter
    # commit-then-drop: apply the write, then fail the response ("reset", "timeout" or "503")
    commit_then_drop_rate: float = 0.0
    commit_then_drop_mode: Literal["reset", "timeout", "503"] = "reset"
    commit_then_drop_methods: tuple[str, ...] = ("POST", "PATCH", "DELETE")
    timeout_hang_seconds: float = 30.0  # how long a "timeout" drop hangs before closing
    transient_412_rate: float = 0.0  # 412 on PATCH without a real conflict (seen in the wild)


@dataclass
class EmulatorConfig:
    """Everything about the emulator's behaviour that is not world state."""

    base_url: str = "https://graph.microsoft.com"  # what @odata.nextLink and @odata.context use
    login_base_url: str = "https://login.microsoftonline.com"  # issuer/endpoints advertised by discovery
    control_api: bool = True  # /_emu/... (seed, state, request log, faults, clock); dev/test only
    # Throttling (Outlook limits per app + mailbox; graph-facts §7).
    mailbox_concurrency: int = 4
    mailbox_window_requests: int = 10_000
    mailbox_window_seconds: float = 600.0
    concurrency_scope: Literal["app+mailbox", "app"] = "app+mailbox"
    throttle_retry_after: float = 1.0  # Retry-After for MailboxConcurrency 429s
    # Paging
    default_page_size: int = 10
    max_page_size: int = 1000
    directory_default_page_size: int = 100  # UNCONFIRMED (graph-facts §11)
    directory_max_page_size: int = 999
    # UNCONFIRMED behaviours, switchable.
    duplicate_transaction_id: Literal["return-original", "conflict"] = "return-original"
    unknown_user_error: Literal["ErrorInvalidUser", "ResourceNotFound"] = "ErrorInvalidUser"
    enforce_if_match: bool = True
    refresh_token_mode: Literal["entra", "strict-rotation"] = "entra"  # noqa: S105 - a mode, not a secret
    # Subscriptions
    subscription_max_minutes: int = 10_080
    notification_batch: bool = False
    notification_duplicate_rate: float = 0.0
    notification_reorder: bool = False
    notification_verify_tls: bool | str = True  # a CA file path, True or False
    allow_http_notification_url: bool = False  # Graph requires https; tests and the demo may allow http
    subscriptions_per_mailbox: int = 1000  # Outlook: 1,000 active subscriptions per mailbox, all apps
    notification_timeout_seconds: float = 3.0  # a notification POST slower than this counts as failed
    notification_validation_timeout_seconds: float = 10.0  # the validation handshake's limit
    notification_reauth_grace_seconds: float = (
        600.0  # delivery pauses this long after reauthorizationRequired
    )
    # $batch: the response order is not guaranteed; shuffle to catch clients that rely on it.
    batch_shuffle_responses: bool = False
    batch_reject_mixed_sequencing: bool = True  # "Batch should be either fully sequential or fully parallel."
    batch_parallelism: int = 4  # items of one batch run at most this many at once per mailbox
    # calendarView/delta: out-of-window @removed noise (graph-facts §5), and the status of a dead token.
    delta_out_of_window_removed_noise: bool = True
    delta_invalid_token_status: int = 410
    # Token lifetimes
    access_token_seconds: int = 3599
    refresh_token_inactive_days: int = 90
    auth_code_seconds: int = 600
    faults: FaultConfig = field(default_factory=FaultConfig)
