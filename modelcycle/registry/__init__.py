"""The model registry: versions, stages, aliases, promotion gates, rollback and lineage."""

from modelcycle.registry.api import (
    Promotion, archive, delete_alias, delete_model_version, get_model_version, get_promotion_policy, lineage,
    list_models, model_history, promote, register_model, rollback, set_alias, set_promotion_policy,
)
from modelcycle.registry.gates import GateReport, GateResult, PromotionPolicy, PromotionRefused

__all__ = [
    "GateReport", "GateResult", "Promotion", "PromotionPolicy", "PromotionRefused", "archive", "delete_alias",
    "delete_model_version", "get_model_version", "get_promotion_policy", "lineage", "list_models",
    "model_history", "promote", "register_model", "rollback", "set_alias", "set_promotion_policy",
]
