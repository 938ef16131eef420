"""The promotion gate: does a freshly trained candidate replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.knobs import DEFAULTS


@dataclass(frozen=True)
class PromotionPolicy:
    auc_floor: float = DEFAULTS.auc_floor
    max_auc_drop: float = DEFAULTS.max_auc_drop


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    candidate_auc: float
    champion_auc: float | None

    @property
    def status(self) -> str:
        return "champion" if self.promote else "rejected"


def decide(
    candidate_auc: float,
    champion_auc: float | None,
    policy: PromotionPolicy,
    no_champion: str = "no champion yet",
) -> PromotionDecision:
    """Promote when the AUC clears the floor and is not worse than the champion's (measured on
    the same validation months) by more than the tolerance. Without a champion AUC the floor
    alone decides; `no_champion` says why there is none (shown in the reason)."""
    if candidate_auc < policy.auc_floor:
        reason = f"AUC {candidate_auc:.4f} is below the floor {policy.auc_floor:.4f}"
        return PromotionDecision(False, reason, candidate_auc, champion_auc)
    if champion_auc is not None and candidate_auc < champion_auc - policy.max_auc_drop:
        reason = (
            f"AUC {candidate_auc:.4f} is more than {policy.max_auc_drop:.4f} below the "
            f"champion's {champion_auc:.4f} on the same validation months"
        )
        return PromotionDecision(False, reason, candidate_auc, champion_auc)
    if champion_auc is None:
        reason = f"{no_champion}; AUC {candidate_auc:.4f} clears the floor {policy.auc_floor:.4f}"
    else:
        reason = f"AUC {candidate_auc:.4f} vs champion {champion_auc:.4f} is within tolerance"
    return PromotionDecision(True, reason, candidate_auc, champion_auc)
