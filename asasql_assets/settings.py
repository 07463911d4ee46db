"""The one Dagster run config of a training loop, shared by reward_model and nl2sql_model."""

from dataclasses import fields, replace
from typing import TypeVar

import dagster as dg
from pydantic import Field

from asasql_resources.models.training import TrainingSettings
from asasql_resources.nl2sql.finetune import SftSettings
from asasql_resources.reward.training import REWARD_TRAINING

T = TypeVar("T", bound=TrainingSettings)
_SFT = SftSettings()


def _default(name: str) -> str:
    """The defaults of one loop setting, for the description the UI shows."""
    return f"Unset: {getattr(REWARD_TRAINING, name)} for reward_model, {getattr(_SFT, name)} for nl2sql_model."


class TrainingConfig(dg.Config):
    """How a LoRA training loop runs; an unset field takes the default of the model being trained."""

    epochs: int | None = Field(
        default=None,
        ge=1,
        description=f"Passes over the examples at most (early stopping may end sooner). {_default('epochs')}",
    )
    learning_rate: float | None = Field(
        default=None,
        gt=0,
        description=f"AdamW learning rate of the LoRA weights (and head). {_default('learning_rate')}",
    )
    batch_size: int | None = Field(
        default=None, ge=1, description=f"Examples per optimizer step. {_default('batch_size')}"
    )
    val_fraction: float | None = Field(
        default=None,
        ge=0,
        le=0.5,
        description=f"Held-out share for early stopping and metrics. {_default('val_fraction')}",
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description=f"Epochs without validation-loss improvement before stopping. {_default('patience')}",
    )
    seed: int = Field(default=0, description="Seed of the split, the batch order and the LoRA initialisation.")

    def settings(self, defaults: T, **overrides: object) -> T:
        """`defaults` with every set field of this config (and of a subclass, where `defaults` has it) applied."""
        names = {field.name for field in fields(defaults)} & set(type(self).model_fields)
        chosen = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        return replace(defaults, **chosen, **overrides)
