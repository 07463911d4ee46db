"""Asset checks on Stage 2: no reward model trained on labels that changed since."""

import dagster as dg

from asasql_assets.active.assets import reward_model
from asasql_assets.active.history import stale_rounds
from asasql_resources.warehouse import WarehouseIOManager


@dg.asset_check(
    asset=reward_model,
    description="Every round's reward model was trained on the current labels of the rounds before it "
    "(the cross-round link that Dagster cannot declare).",
)
def reward_model_not_stale(io_manager: dg.ResourceParam[WarehouseIOManager]) -> dg.AssetCheckResult:
    """Fail, naming the stale rounds, when an earlier label partition changed after a later model was trained."""
    stale = stale_rounds(io_manager.layout)
    return dg.AssetCheckResult(
        passed=not stale,
        metadata={"stale_rounds": len(stale), "details": "; ".join(stale) or "none"},
        description=("rematerialize " + ", ".join(s.split(" ")[0] for s in stale)) if stale else None,
    )
