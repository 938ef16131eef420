"""The run knobs and their defaults, defined once.

The flows' parameters (what the Prefect form shows), the CLI's options, the training config and
the promotion policy all take their defaults from `DEFAULTS`; prefect.yaml and its local twin
give only overrides (tests/unit/test_deploy_config.py checks that none restates a default).
Plain data: importable without Prefect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tasks.errors import PulsewatchError


@dataclass(frozen=True)
class Knobs:
    # training: which months, how long, how strict the promotion gate is
    training_months: int = 18  # survey months in the training window (validation included)
    validation_months: int = 3  # the last months of the window, held out for the AUC
    num_boost_round: int = 200  # LightGBM boosting rounds
    auc_floor: float = 0.70  # absolute minimum validation AUC for promotion
    max_auc_drop: float = 0.02  # how much worse than the champion a candidate may be
    # highest expected calibration error (10 bins, cross-fitted on the validation months) of a
    # candidate's calibrated risk: above it the risk does not read as a probability
    max_calibration_error: float = 0.05
    max_model_age_days: int = 8  # the nightly retrains a champion older than this
    # scoring and both
    chunk_rows: int = 50_000  # employees scored per chunk (bounds scoring memory)
    # Explicit: LightGBM's default OpenMP threading was measured 100x slower on a busy
    # 2-core machine than num_threads=1. The ECS deployments set 2 (2 vCPU).
    num_threads: int = 1
    # reasons (score_reasons): the share of the night's highest risks whose top three
    # contributing features are stored; 0 stores none (tasks/reasons.py)
    reasons_top_share: float = 0.10
    # source checks: refuse a month whose answered share falls below this fraction of the
    # median share of the months before it (a month of blank answers scores everyone high)
    min_answered_ratio: float = 0.5
    # model health alerts (tasks/health.py): the realized-AUC rule uses auc_floor above
    health_auc_dates: int = 3  # consecutive evaluated score dates below the floor that alert
    health_psi_limit: float = 0.25  # PSI above this is a major shift (risk score, top features)
    health_top_features: int = 5  # the champion's features by gain importance that are watched
    health_remind_days: int = 7  # a breach that persists alerts again every this many nights
    retrain_on_health_alert: bool = False  # a breach recorded last night forces training


DEFAULTS = Knobs()


def check_top_share(share: float, name: str = "reasons_top_share") -> float:
    """reasons_top_share: a share between 0 and 1 (here, not in tasks/reasons.py, so that the
    CLI checks it without importing pandas)."""
    if not (isinstance(share, (int, float)) and 0.0 <= share <= 1.0) or math.isnan(share):
        raise PulsewatchError(f"{name}: must be a share between 0 and 1 (got {share!r})")
    return float(share)
