"""Every round's labels as Stage 3 sees them, with the honest threshold they give the last reward model's scores."""

from collections.abc import Mapping

import polars as pl

from asasql_assets.finetune.filtering import f1_threshold
from asasql_assets.partitions import round_key, round_number


def all_labels(labeled_rounds: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """The labels of every labeled round (partition key to frame, as filtered_dataset loads them), with `label_round`."""
    frames = [
        frame.with_columns(pl.lit(round_number(key)).alias("label_round"))
        for key, frame in sorted(labeled_rounds.items(), key=lambda item: round_number(item[0]))
    ]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def prospective_threshold(labels: pl.DataFrame, reward_scores: Mapping[str, pl.DataFrame]) -> float | None:
    """The F1-optimal threshold on labels scored by the model of their round, which had not seen them.

    `reward_scores` maps a round's key to its scores (reward_scores[r] is reward_model[r]'s); labels of a round
    without scores are left out.
    """
    if labels.is_empty():
        return None
    scored = []
    for number in labels["label_round"].unique().sort().to_list():
        scores = reward_scores.get(round_key(number))
        if scores is not None:
            scored.append(
                labels.filter(pl.col("label_round") == number).join(
                    scores.select("candidate_id", "score"), on="candidate_id"
                )
            )
    if not scored:
        return None
    joined = pl.concat(scored)
    return f1_threshold(joined["label"].to_list(), joined["score"].to_list())
