"""What an alert says: the Slack-format payload and the Jinja templates Prefect renders.

Pure data, no Prefect client. Prefect's automations service renders the subject and body
templates on the server when a trigger fires (`flow_run`, `flow`, `deployment` are read from
the API for the triggering event; `firing` is always there), then the notification block puts
the rendered text into the Slack payload below and POSTs it.

Only names, states, parameters that identify the run (dates) and the first line of the state
message reach Slack: no rows, no results, no settings.
"""

from __future__ import annotations

from typing import Any

# Slack attachment colours (also understood by Mattermost).
RED = "#d40e0d"
AMBER = "#e8a317"

# Placeholder the notification block fills from its secret values; the webhook URL itself is
# only ever stored in the block's `secrets` (a SecretDict), never in a template or a log line.
WEBHOOK_SECRET_KEY = "webhook_url"  # noqa: S105 (a key name, not a secret)

# The date a run is about: nightly/score runs have `score_date`, training `train_end_date`,
# a backfill `start`..`end`. None means "today in Asia/Tokyo" (tasks/dates.py:resolve_date).
_RUN_DATE = (
    "{% set p = flow_run.parameters %}"
    "{% if p.get('start') %}{{ p.get('start') }}..{{ p.get('end') }}"
    "{% else %}{{ p.get('score_date') or p.get('train_end_date') "
    "or 'default (today, Asia/Tokyo)' }}{% endif %}"
)
# First line of the state message (Prefect puts the exception type and text there). When that
# line ends with ':' the detail is on the next lines: Prefect's parameter validation failure is
# "Validation of flow parameters failed with error: ParameterTypeError: Flow run received
# invalid parameters:" followed by " - score_date: Input should be ..." (one line per bad
# parameter, prefect.exceptions.ParameterTypeError), so up to five of those are appended.
_FIRST_ERROR_LINE = (
    "{% set lines = (flow_run.state.message or 'no state message').strip().splitlines() "
    "or ['no state message'] %}"
    "{% set head = lines[0].rstrip() %}"
    "{{ (head ~ ((' ' ~ (lines[1:6] | map('trim') | join(' '))) "
    "if head.endswith(':') and lines | length > 1 else ''))[:300] }}"
)
_STATE_TIME = "{{ flow_run.state.timestamp.strftime('%Y-%m-%d %H:%M:%S %z') }}"
_FIRING_TIME = "{{ firing.triggered.strftime('%Y-%m-%d %H:%M:%S %z') }}"
_DEPLOYMENT = "{{ deployment.name if deployment else 'no deployment' }}"


def run_link(ui_url: str) -> str:
    """Template for the flow run's page in the Prefect UI at `ui_url` (resolved when the
    automations are applied: automations.resolve_ui_url). Not Prefect's `flow_run|ui_url`
    filter: it reads the *server's* PREFECT_UI_URL, which a plain `prefect server start` does
    not set, and then renders "None"."""
    return ui_url.rstrip("/") + "/runs/flow-run/{{ flow_run.id }}"


def deployments_link(ui_url: str) -> str:
    return ui_url.rstrip("/") + "/deployments"


def run_subject(what: str) -> str:
    """e.g. 'pulsewatch: nightly-pipeline Failed' or '... Late, not started after 15m'."""
    return "pulsewatch: {{ flow.name }} " + what


def run_body(ui_url: str, *, with_error: bool) -> str:
    """The on-call's summary of one flow run (Slack mrkdwn, one fact per line)."""
    lines = [
        f"*Flow* {{{{ flow.name }}}}   *Deployment* {_DEPLOYMENT}",
        "*Flow run* {{ flow_run.name }}   *State* {{ flow_run.state.name }}",
        f"*Score date* {_RUN_DATE}",
    ]
    if with_error:
        lines.append(f"*Error* {_FIRST_ERROR_LINE}")
    lines += [
        f"*When* {_STATE_TIME}",
        f"*Run* {run_link(ui_url)}",
    ]
    return "\n".join(lines)


def missing_completion_body(flow: str, deployment: str, window: str, ui_url: str) -> str:
    """Proactive alert: nothing to show about a run, because no run completed."""
    return "\n".join(
        [
            f"*Flow* {flow}   *Deployment* {deployment}",
            f"*State* no Completed run in the last {window}",
            "*Check* is the schedule paused, the work pool paused or without capacity, "
            "the image missing? (a run that failed was reported separately)",
            f"*When* {_FIRING_TIME}",
            f"*Deployments* {deployments_link(ui_url)}",
        ]
    )


# A health event (tasks/health.py:health_event) carries every rule the night broke, so one
# night is one message. Each breach: rule, feature (what moved), value, threshold, since, dates,
# model_version, rank. Numbers only: no rows ever reach the payload.
_BREACHES = "{% set p = event.payload %}{% set breaches = p.get('breaches') or [] %}"
_WHAT_MOVED = (
    "{% for b in breaches %}{{ ', ' if not loop.first }}"
    "{% if b.rule == 'realized_auc' %}realized AUC below the floor"
    "{% elif b.rule == 'score_psi' %}risk score drifted"
    "{% else %}{{ b.feature }} drifted{% endif %}{% endfor %}"
)
_BREACH_LINES = (
    "{% for b in breaches %}\n"
    "{% if b.rule == 'realized_auc' %}"
    "*Realized AUC* {{ '%.3f' | format(b.value) }} below the floor "
    "{{ '%.2f' | format(b.threshold) }} on {{ b.dates }} consecutive evaluated score dates "
    "since {{ b.since }} (model {{ b.model_version }})"
    "{% elif b.rule == 'score_psi' %}"
    "*Risk score drift* PSI {{ '%.3f' | format(b.value) }} above "
    "{{ '%.2f' | format(b.threshold) }} since {{ b.since }} ({{ b.dates }} night(s))"
    "{% else %}"
    "*Feature drift* {{ b.feature }} (importance rank {{ b.rank }}) PSI "
    "{{ '%.3f' | format(b.value) }} above {{ '%.2f' | format(b.threshold) }} since "
    "{{ b.since }} ({{ b.dates }} night(s))"
    "{% endif %}{% endfor %}"
)


def health_subject() -> str:
    """e.g. 'pulsewatch: model health: tenure_months drifted, risk score drifted'."""
    return _BREACHES + "pulsewatch: model health: " + _WHAT_MOVED


def health_body(ui_url: str) -> str:
    """What moved, by how much (value vs threshold), since when, and the run that saw it."""
    return "\n".join(
        [
            _BREACHES
            + "*Model* {{ p.get('model_version') }}   *Score date* {{ p.get('score_date') }}"
            + _BREACH_LINES,
            "*Flow run* {{ flow_run.name }}",
            f"*When* {_FIRING_TIME}",
            f"*Run* {run_link(ui_url)}",
        ]
    )


def slack_payload(color: str) -> dict[str, Any]:
    """Slack incoming-webhook JSON with `{{subject}}` / `{{body}}` placeholders, filled by
    Prefect's CustomWebhookNotificationBlock (values are JSON-encoded by the HTTP client)."""
    return {
        "text": "{{subject}}",
        "attachments": [
            {
                "color": color,
                "fallback": "{{subject}}",
                "title": "{{subject}}",
                "text": "{{body}}",
                "mrkdwn_in": ["text"],
            }
        ],
    }
