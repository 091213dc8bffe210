"""The Slack Web API as the bridge sees it: slack_sdk's WebClient in worker threads, with
every failure classified as retry, hold or fail, and per-channel pacing.

``WebClient`` is synchronous; every call runs in ``trio.to_thread.run_sync`` under a
``CapacityLimiter`` so a slow Slack never blocks the event loop and never takes more than a
few threads. The client is built without slack_sdk's own retry handlers: a retry after an
ambiguous failure could post twice, so the bridge decides about retries itself (it looks
for a post in Slack before posting again).

Error handling: :class:`SlackCallError` says what to do next:

- ``RETRY``: rate limited (HTTP 429, honour ``retry_after``), Slack's 5xx and its
  ``internal_error`` family, timeouts and connection errors. ``in_doubt`` is set when the
  call may have taken effect (5xx, timeouts): a post must be looked up before a retry.
- ``HOLD``: the workspace or channel needs a fix by a person (``not_in_channel``,
  ``invalid_auth``...). Operations stay queued, in order, until re-driven; ``hint`` says
  the fix in plain words.
- ``FAIL``: this one operation cannot succeed (``msg_too_long``, ``message_not_found``...).
"""

from __future__ import annotations

import enum
import functools
import http.client
import logging
import math
from typing import Any

import trio
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

log = logging.getLogger(__name__)

#: Worker threads for Slack calls at once: Slack is paced per channel anyway, and each
#: thread holds a blocking HTTP request.
THREADS = 4
#: Seconds waited after a 429 whose Retry-After header is missing or unreadable.
DEFAULT_RETRY_AFTER = 1.0

#: Slack answers (HTTP 200, ok false) that mean "try again later".
RETRYABLE_CODES = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

_TOKEN_HINT = (
    "The bot token is wrong, revoked or lacks access. In your Slack app's settings open "
    "OAuth & Permissions, copy the Bot User OAuth Token (xoxb-...) into Switchboard's Slack "
    "settings (reinstall the app first if it was removed), then press Re-drive."
)
_SCOPE_HINT = (
    "The Slack app lacks a permission (scope). Add the scopes listed in docs/slack.md under "
    "OAuth & Permissions, reinstall the app to the workspace, then press Re-drive."
)
#: Errors a person has to fix (in Slack or in the settings), with the fix in plain words.
HOLD_HINTS: dict[str, str] = {
    "not_in_channel": (
        "The Switchboard app is not a member of the channel. In Slack open the channel, "
        "click its name, then Integrations, Add apps, and add the Switchboard app. Then "
        "press Re-drive."
    ),
    "channel_not_found": (
        "The channel does not exist or the app cannot see it (a private channel needs the "
        "app added first). Pick another channel in the Slack settings, or add the app to "
        "the channel from its Integrations, Add apps; then press Re-drive."
    ),
    "is_archived": (
        "The channel is archived. Unarchive it in Slack or pick another channel in the "
        "Slack settings, then press Re-drive."
    ),
    "no_channel": (
        "No Slack channel is chosen. Pick one in the Slack settings (or turn on a separate "
        "channel per webinar), then press Re-drive."
    ),
    "bad_api_url": (
        "The Slack API URL is not usable. Set slack_api_url to https://slack.com/api/ "
        "(or the emulator's URL), then press Re-drive."
    ),
    "restricted_action": (
        "A workspace admin restricted this action (for example who may create channels). "
        "Ask them to allow it for the app, or turn off channels per webinar; then re-drive."
    ),
    "missing_scope": _SCOPE_HINT,
    "no_permission": _SCOPE_HINT,
    "not_allowed_token_type": _TOKEN_HINT,
    "invalid_auth": _TOKEN_HINT,
    "not_authed": _TOKEN_HINT,
    "account_inactive": _TOKEN_HINT,
    "token_revoked": _TOKEN_HINT,
    "token_expired": _TOKEN_HINT,
    "team_access_not_granted": _TOKEN_HINT,
    "ekm_access_denied": _TOKEN_HINT,
}
#: Errors that end one operation, with what they mean for the person reading the log.
FAIL_HINTS: dict[str, str] = {
    "msg_too_long": "The message is too long for Slack; it is not mirrored.",
    "no_text": "The message was empty; nothing to post.",
    "invalid_blocks": "Slack refused the message layout; please report this as a bug.",
    "thread_not_found": "The Slack thread was deleted; this message is not mirrored.",
    "message_not_found": "The Slack message was deleted in Slack already.",
    "cant_update_message": "Only messages posted by the app can be changed.",
    "cant_delete_message": "Only messages posted by the app can be deleted.",
}
UNREACHABLE_HINT = (
    "Slack did not answer after several attempts. Check that this server can reach Slack "
    "(or the configured slack_api_url) and that Slack is up, then press Re-drive."
)


class Disposition(enum.Enum):
    """What the bridge does after a failed call."""

    #: Try again later (after ``retry_after`` or a backoff).
    RETRY = "retry"
    #: Keep the operation and everything after it in its lane until a re-drive.
    HOLD = "hold"
    #: Give up this operation (logged), carry on with the next.
    FAIL = "fail"


class SlackCallError(Exception):
    """A Slack call that did not succeed, and what to do about it (see module docstring)."""

    def __init__(
        self,
        method: str,
        code: str,
        disposition: Disposition,
        *,
        retry_after: float | None = None,
        in_doubt: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{method}: {code}")
        self.method = method
        self.code = code
        self.disposition = disposition
        self.retry_after = retry_after
        self.in_doubt = in_doubt
        self.status = status

    @property
    def hint(self) -> str | None:
        return HOLD_HINTS.get(self.code) or FAIL_HINTS.get(self.code)

    @property
    def rate_limited(self) -> bool:
        return self.retry_after is not None


def classify(code: str) -> Disposition:
    """The disposition of a Slack error code (unknown codes fail the one operation)."""
    if code in RETRYABLE_CODES:
        return Disposition.RETRY
    if code in HOLD_HINTS:
        return Disposition.HOLD
    return Disposition.FAIL


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


def _retry_after(headers: Any) -> float:
    raw = _header(headers, "retry-after")
    try:
        value = float(raw) if raw is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return value if math.isfinite(value) and value >= 0 else DEFAULT_RETRY_AFTER


def api_error(method: str, exc: SlackApiError) -> SlackCallError:
    """Classify a ``SlackApiError`` (an HTTP error status, or ok false)."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    code = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429:
        return SlackCallError(
            method,
            "ratelimited",
            Disposition.RETRY,
            retry_after=_retry_after(getattr(response, "headers", None)),
            status=status,
        )
    if status >= 500:
        return SlackCallError(
            method, code or f"http_{status}", Disposition.RETRY, in_doubt=True, status=status
        )
    if status == 200 and code:
        disposition = classify(code)
        return SlackCallError(
            method, code, disposition, in_doubt=disposition is Disposition.RETRY, status=status
        )
    if status in (401, 403):
        return SlackCallError(method, code or "invalid_auth", Disposition.HOLD, status=status)
    if status == 404:
        return SlackCallError(method, code or "unknown_method", Disposition.FAIL, status=status)
    return SlackCallError(
        method, code or f"http_{status}", Disposition.RETRY, in_doubt=True, status=status
    )


class SlackClient:
    """One workspace's Web API client (token and base URL fixed; build a new one to change).

    Args:
        token: the bot token (xoxb-...).
        base_url: the Web API base, ``https://slack.com/api/`` or the emulator's.
        timeout: seconds per HTTP request.
        limiter: bounds the worker threads used for calls.
    """

    def __init__(
        self, token: str, base_url: str, *, timeout: float, limiter: trio.CapacityLimiter
    ) -> None:
        self.token = token
        self.base_url = base_url
        self._limiter = limiter
        self._client = WebClient(
            token=token, base_url=base_url, timeout=max(1, math.ceil(timeout)),
            retry_handlers=[],
        )  # fmt: skip

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` (e.g. ``"chat.postMessage"``) and return Slack's answer.

        Raises:
            SlackCallError: the call failed; its ``disposition`` says what to do.
        """
        fn = getattr(self._client, method.replace(".", "_"))
        try:
            response = await trio.to_thread.run_sync(
                functools.partial(fn, **params), limiter=self._limiter
            )
        except SlackApiError as exc:
            error = api_error(method, exc)
            log.info("slack.call_failed method=%s code=%s", method, error.code)
            raise error from exc
        except SlackRequestError as exc:
            raise SlackCallError(method, "bad_api_url", Disposition.HOLD) from exc
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            # urllib: URLError, socket timeouts, resets, a connection cut mid-answer.
            code = "timeout" if "timed out" in str(exc) else "connection_failed"
            log.info("slack.call_failed method=%s code=%s error=%r", method, code, exc)
            raise SlackCallError(method, code, Disposition.RETRY, in_doubt=True) from exc
        data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
        return data


class Pacer:
    """Per-lane pacing: at most one paced call per ``interval`` seconds in each lane.

    A lane is a Slack channel (or the queue of a channel not created yet). Slack allows
    about one message per second per channel; a 429's Retry-After pauses the lane. Times
    come from ``trio.current_time()``, so MockClock drives it in tests.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}

    async def wait(self, lane: str) -> None:
        """Wait for the lane's next slot and take it."""
        now = trio.current_time()
        start = max(now, self._next.get(lane, -math.inf))
        self._next[lane] = start + self.interval
        if start > now:
            await trio.sleep_until(start)

    def pause(self, lane: str, seconds: float) -> None:
        """Nothing goes out in ``lane`` for ``seconds`` (a 429's Retry-After)."""
        until = trio.current_time() + seconds
        self._next[lane] = max(self._next.get(lane, -math.inf), until)
