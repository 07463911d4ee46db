"""The stopping rule of the active-learning loop: a target accuracy, a maximum of rounds, or an exhausted pool."""

from dataclasses import dataclass


@dataclass(frozen=True)
class StopRule:
    """When `asasql run` stops adding rounds."""

    max_rounds: int
    target_accuracy: float | None = None

    def __post_init__(self) -> None:
        """Refuse settings that cannot hold."""
        if self.max_rounds < 0:
            raise ValueError(f"--rounds must be 0 or more, got {self.max_rounds}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"--target-accuracy must be in (0, 1], got {self.target_accuracy}")

    def after_model(self, number: int, val_accuracy: float | None) -> str | None:
        """Why to stop once round `number`'s reward model is trained, or None to label this round."""
        if self.target_accuracy is not None and val_accuracy is not None and val_accuracy >= self.target_accuracy:
            return (
                f"round_{number}: validation accuracy {val_accuracy:.3f} reached the target {self.target_accuracy:.3f}"
            )
        if number >= self.max_rounds:
            return f"ran the {self.max_rounds} round(s) asked for (--rounds {self.max_rounds})"
        return None

    def after_selection(self, number: int, selected: int) -> str | None:
        """Why to stop once round `number` has selected its batch, or None to go on."""
        if selected == 0:
            return f"round_{number}: the pool has no unlabeled, selectable candidates left"
        return None
