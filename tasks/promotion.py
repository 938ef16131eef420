"""The promotion gate: does a freshly trained candidate replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.knobs import DEFAULTS


@dataclass(frozen=True)
class PromotionPolicy:
    auc_floor: float = DEFAULTS.auc_floor
    max_auc_drop: float = DEFAULTS.max_auc_drop
    max_calibration_error: float = DEFAULTS.max_calibration_error


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    candidate_auc: float
    champion_auc: float | None
    calibration_error: float | None = None

    @property
    def status(self) -> str:
        return "champion" if self.promote else "rejected"


def decide(
    candidate_auc: float,
    champion_auc: float | None,
    policy: PromotionPolicy,
    no_champion: str = "no champion yet",
    calibration_error: float | None = None,
) -> PromotionDecision:
    """Promote when the AUC clears the floor and is not worse than the champion's (measured on
    the same validation months) by more than the tolerance, and the candidate's calibrated risk
    reads as a probability: its `calibration_error` (ECE, cross-fitted on the validation
    months; tasks/calibration.py) is at most the policy's maximum. Without a champion AUC the
    floor alone decides the AUC part; `no_champion` says why there is none (shown in the
    reason). `calibration_error` None (a model trained before calibration): no check."""

    def decision(promote: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(promote, reason, candidate_auc, champion_auc, calibration_error)

    if candidate_auc < policy.auc_floor:
        return decision(False, f"AUC {candidate_auc:.4f} is below the floor {policy.auc_floor:.4f}")
    if champion_auc is not None and candidate_auc < champion_auc - policy.max_auc_drop:
        reason = (
            f"AUC {candidate_auc:.4f} is more than {policy.max_auc_drop:.4f} below the "
            f"champion's {champion_auc:.4f} on the same validation months"
        )
        return decision(False, reason)
    if champion_auc is None:
        reason = f"{no_champion}; AUC {candidate_auc:.4f} clears the floor {policy.auc_floor:.4f}"
    else:
        reason = f"AUC {candidate_auc:.4f} vs champion {champion_auc:.4f} is within tolerance"
    if calibration_error is None:
        return decision(True, reason)
    if calibration_error > policy.max_calibration_error:
        reason = (
            f"{reason}, but the calibration error (ECE) {calibration_error:.4f} is above the "
            f"maximum {policy.max_calibration_error:.4f}"
        )
        return decision(False, reason)
    reason = (
        f"{reason}; calibration error (ECE) {calibration_error:.4f} is within the maximum "
        f"{policy.max_calibration_error:.4f}"
    )
    return decision(True, reason)
