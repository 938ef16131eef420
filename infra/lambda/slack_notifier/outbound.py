"""The two HTTP calls the notifier makes: post to Slack, read a flow run from the Prefect API.

Standard library only (urllib), so the Lambda ships as a handful of .py files with no layer.
Neither function ever puts the webhook URL or the API key in an exception or a log line.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit


class ConfigurationError(RuntimeError):
    """A setting the notifier needs is missing or unusable."""


class SlackDeliveryError(RuntimeError):
    """Slack did not take the message; raised so Lambda retries, then dead-letters the event."""


class PrefectLookupError(RuntimeError):
    """The Prefect API did not tell us the flow run's state."""


@dataclass(frozen=True)
class FlowRunState:
    type: str  # COMPLETED, FAILED, CRASHED, RUNNING, ... (prefect StateType)
    name: str  # Completed, Failed, TimedOut, Running, ...


def _require_http_url(url: str, what: str) -> None:
    # urlopen also accepts file:// and ftp://; only http(s) may leave this function.
    # The message names the setting, never the value (a webhook URL is a credential).
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{what} is not an http(s) URL")


def post_to_slack(webhook_url: str, text: str, *, timeout: float = 10.0) -> None:
    """POST {"text": text} to a Slack incoming webhook; raise SlackDeliveryError unless ok."""
    _require_http_url(webhook_url, "the Slack webhook secret")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        webhook_url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
            body = response.read(200).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode(errors="replace")
        # `from None`: the chained HTTPError carries the URL in its attributes.
        raise SlackDeliveryError(f"Slack answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SlackDeliveryError(f"Slack unreachable: {type(reason).__name__}") from None
    if status != 200:
        raise SlackDeliveryError(f"Slack answered HTTP {status}: {body}")


def read_flow_run_state(
    api_url: str, api_key: str | None, flow_run_id: str, *, timeout: float = 5.0
) -> FlowRunState:
    """GET {api_url}/flow_runs/{id} and return its state (Prefect 3 REST API, FlowRunResponse)."""
    _require_http_url(api_url, "PREFECT_API_URL")
    run_id = str(uuid.UUID(flow_run_id))  # never interpolate anything but a UUID into the path
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{api_url.rstrip('/')}/flow_runs/{run_id}", headers=headers, method="GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise PrefectLookupError(f"Prefect API answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PrefectLookupError(f"Prefect API unreachable: {type(reason).__name__}") from None
    except json.JSONDecodeError:
        raise PrefectLookupError("Prefect API answered with something that is not JSON") from None

    if not isinstance(payload, dict):
        raise PrefectLookupError("Prefect API answer is not a JSON object")
    raw_state = payload.get("state")
    state = raw_state if isinstance(raw_state, dict) else {}
    state_type = payload.get("state_type") or state.get("type")
    state_name = payload.get("state_name") or state.get("name") or state_type
    if not isinstance(state_type, str):
        raise PrefectLookupError("Prefect API answer has no state type")
    return FlowRunState(type=state_type.upper(), name=str(state_name))
