"""The model card: what one trained model learned from, how good it is, how its risk reads as a
probability and what the promotion gate decided, as markdown. Aggregates only: counts, rates,
metrics, importances and the reference bins (decile edges and shares), never a row."""

from __future__ import annotations

from typing import Any

from tasks.drift import RISK_SCORE
from tasks.promotion import PromotionDecision

NONE_SHOWN = "\u2013"  # en dash for "no value": a bare "-" can render as a list bullet
TOP_IMPORTANCES = 10


def _number(value: float | None, digits: int = 4) -> str:
    return NONE_SHOWN if value is None else f"{value:.{digits}f}"


def _compact(values: list[float]) -> str:
    return ", ".join(f"{v:.4g}" for v in values) if values else NONE_SHOWN


def _calibration_section(calibration: dict[str, Any] | None) -> str:
    if not calibration:
        return "## Calibration\n\nNone: the model was trained before calibration existed.\n"
    before, after = calibration["before"], calibration["after"]
    rows = []
    for b, a in zip(before["table"], after["table"], strict=True):
        rows.append(
            f"| {b['bin']} | {b['n']:,} | {_number(b['mean_predicted'])} | "
            f"{_number(b['observed_rate'])} | {a['n']:,} | {_number(a['mean_predicted'])} | "
            f"{_number(a['observed_rate'])} |"
        )
    table = "\n".join(rows)
    return f"""## Calibration

{calibration["reason"]}. "Before": the booster's own probabilities; "after": calibrated,
measured {calibration["measured_after"]}.

| measure | before | after |
|---|---|---|
| Brier score | {_number(before["brier"])} | {_number(after["brier"])} |
| expected calibration error (10 bins) | {_number(before["ece"])} | {_number(after["ece"])} |

| risk bin | before: n | before: mean predicted | before: observed rate | after: n | \
after: mean predicted | after: observed rate |
|---|---|---|---|---|---|---|
{table}
"""


def _reference_section(reference: dict[str, Any] | None) -> str:
    if not reference:
        return (
            "## Reference distributions\n\nNone: the model was trained before drift monitoring.\n"
        )
    rows = []
    for name, ref in reference.items():
        shares = [100 * s for s in ref["shares"]]
        rows.append(
            f"| {name} | {len(ref['edges']) + 1} | {_compact(ref['edges'])} | "
            f"{', '.join(f'{s:.1f}' for s in shares[:-1])} | {shares[-1]:.1f}% |"
        )
    table = "\n".join(rows)
    return f"""## Reference distributions

The validation months' bins, against which each night's population drift (PSI) is measured:
decile edges (ties merged) and the share of rows in each bin, in %; the risk score's
(`{RISK_SCORE}`) are of the calibrated risk.

| feature | bins | edges | shares (%) | missing |
|---|---|---|---|---|
{table}
"""


def model_card_markdown(
    model_version: str,
    status: str,
    metrics: dict[str, Any],
    categories: dict[str, list[str]],
    importances: dict[str, float],
    decision: PromotionDecision,
) -> str:
    """The card of one trained model: `metrics` as tasks/training.py records them,
    `importances` the gain of each feature in model order (PulseModel.gain_importance)."""
    train_months, valid_months = metrics["train_months"], metrics["valid_months"]
    total_gain = sum(importances.values()) or 1.0
    ranked = sorted(importances.items(), key=lambda pair: (-pair[1], pair[0]))
    top = ranked[:TOP_IMPORTANCES]
    importance_rows = "\n".join(
        f"| {rank} | {name} | {gain:,.1f} | {100 * gain / total_gain:.1f}% |"
        for rank, (name, gain) in enumerate(top, start=1)
    )
    feature_list = ", ".join(f"`{name}`" for name in importances) or NONE_SHOWN
    category_list = "; ".join(
        f"`{column}`: {len(values)} categories" for column, values in categories.items()
    )
    champion_auc = _number(decision.champion_auc)
    precision5 = metrics.get("precision_top5")
    precision10 = metrics.get("precision_top10")
    return f"""# Model card: {model_version}

| item | value |
|---|---|
| status | {status} |
| training cut-off | {metrics["train_end_date"]} |
| training months | {train_months[0]} to {train_months[-1]} ({int(metrics["n_train"]):,} rows) |
| validation months | {valid_months[0]} to {valid_months[-1]} ({int(metrics["n_valid"]):,} rows) |
| positive rate (training / validation) | {metrics["positive_rate_train"]:.4f} / \
{metrics["positive_rate_valid"]:.4f} |

## Features

{len(importances)} features: {feature_list}. Categorical: {category_list or NONE_SHOWN}.

## Validation performance

| metric | value |
|---|---|
| AUC | {metrics["auc"]:.4f} |
| precision in the top 5% | {_number(precision5)} |
| precision in the top 10% | {_number(precision10)} |

{_calibration_section(metrics.get("calibration"))}
## Top feature importances (gain)

| rank | feature | gain | share |
|---|---|---|---|
{importance_rows}

{_reference_section(metrics.get("reference"))}
## Promotion gate

| item | value |
|---|---|
| decision | {"passed the gate: " + status if decision.promote else "rejected"} |
| candidate AUC | {decision.candidate_auc:.4f} |
| champion AUC (same validation months) | {champion_auc} |
| calibration error (ECE, after) | {_number(decision.calibration_error)} |
| reason | {decision.reason} |
"""
