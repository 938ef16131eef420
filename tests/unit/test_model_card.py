"""The model card's markdown (tasks/model_card.py), from metrics written by hand."""

import pytest

from tasks.calibration import reliability
from tasks.model_card import NONE_SHOWN as NONE
from tasks.model_card import model_card_markdown
from tasks.promotion import PromotionDecision

pytestmark = pytest.mark.unit

BEFORE = reliability([0.05, 0.15, 0.15, 0.95], [0, 1, 0, 1])
AFTER = reliability([0.25, 0.45, 0.45, 0.75], [0, 1, 0, 1])
METRICS = {
    "auc": 0.81234,
    "precision_top5": 0.61,
    "precision_top10": 0.5432,
    "n_train": 24_777,
    "n_valid": 4_697,
    "positive_rate_train": 0.1128,
    "positive_rate_valid": 0.119,
    "train_months": ["2025-04-01", "2026-06-01"],
    "valid_months": ["2026-07-01", "2026-09-01"],
    "train_end_date": "2026-11-20",
    "calibration": {
        "method": "platt",
        "slope": 0.9,
        "intercept": -0.1,
        "reason": "Platt scaling on 4,697 validation rows (559 positive)",
        "measured_after": "2-fold cross-fitted on the validation months",
        "before": BEFORE,
        "after": AFTER,
    },
    "reference": {
        "tenure_months": {"edges": [16.0, 30.0], "shares": [0.25, 0.5, 0.2, 0.05]},
        "risk_score": {"edges": [0.1], "shares": [0.9, 0.1, 0.0]},
    },
}
IMPORTANCES = {"department": 10.0, "tenure_months": 30.0, "delta_3m": 60.0}
CATEGORIES = {"department": ["Eng", "Ops", "Sales"]}


def row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is `first_cell`."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r}")


def card(decision: PromotionDecision, metrics: dict | None = None, status: str = "champion"):
    return model_card_markdown(
        "m20261120T010203-abc123", status, metrics or METRICS, CATEGORIES, IMPORTANCES, decision
    )


def test_card_numbers():
    decision = PromotionDecision(True, "no champion yet; fine", 0.81234, None, 0.2)
    markdown = card(decision)
    assert markdown.startswith("# Model card: m20261120T010203-abc123\n")
    assert row(markdown, "training months") == [
        "training months",
        "2025-04-01 to 2026-06-01 (24,777 rows)",
    ]
    assert row(markdown, "validation months")[1] == "2026-07-01 to 2026-09-01 (4,697 rows)"
    assert row(markdown, "AUC") == ["AUC", "0.8123"]
    assert row(markdown, "precision in the top 5%") == ["precision in the top 5%", "0.6100"]
    assert row(markdown, "precision in the top 10%")[1] == "0.5432"
    assert row(markdown, "Brier score") == ["Brier score", "0.1875", "0.1575"]
    assert row(markdown, "expected calibration error (10 bins)")[1:] == ["0.2000", "0.1500"]
    # reliability rows: bin, then n / mean predicted / observed rate before, then after
    assert row(markdown, "0.1-0.2") == ["0.1-0.2", "2", "0.1500", "0.5000", "0", NONE, NONE]
    assert row(markdown, "0.4-0.5") == ["0.4-0.5", "0", NONE, NONE, "2", "0.4500", "0.5000"]
    # importances by gain, highest first, with their share of the total
    assert row(markdown, "1") == ["1", "delta_3m", "60.0", "60.0%"]
    assert row(markdown, "3") == ["3", "department", "10.0", "10.0%"]
    assert "`department`: 3 categories" in markdown
    assert row(markdown, "tenure_months") == [
        "tenure_months",
        "3",
        "16, 30",
        "25.0, 50.0, 20.0",
        "5.0%",
    ]
    assert row(markdown, "risk_score")[1:] == ["2", "0.1", "90.0, 10.0", "0.0%"]
    assert row(markdown, "decision") == ["decision", "passed the gate: champion"]
    assert row(markdown, "calibration error (ECE, after)")[1] == "0.2000"
    assert row(markdown, "champion AUC (same validation months)")[1] == NONE
    assert row(markdown, "reason")[1] == "no champion yet; fine"


def test_card_of_a_rejected_model_trained_before_calibration():
    metrics = {k: v for k, v in METRICS.items() if k not in ("calibration", "reference")}
    metrics.pop("precision_top5")
    decision = PromotionDecision(False, "AUC 0.6000 is below the floor 0.7000", 0.6, 0.8)
    markdown = card(decision, metrics, "rejected")
    assert row(markdown, "decision")[1] == "rejected"
    assert row(markdown, "status")[1] == "rejected"
    assert row(markdown, "champion AUC (same validation months)")[1] == "0.8000"
    assert row(markdown, "precision in the top 5%")[1] == NONE
    assert "None: the model was trained before calibration existed." in markdown
    assert "None: the model was trained before drift monitoring." in markdown
