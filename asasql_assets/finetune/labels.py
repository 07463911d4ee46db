"""Every round's labels as Stage 3 sees them, with the honest threshold they give the last reward model's scores."""

import polars as pl

from asasql_assets.partitions import LABELS_ASSET, round_number
from asasql_assets.finetune.filtering import f1_threshold
from asasql_resources.warehouse import Home, read_frame
from asasql_resources.warehouse.io_manager import version_label


def all_labels(home: Home) -> tuple[pl.DataFrame, dict[str, str]]:
    """The labels of every labeled round, with `label_round`, and their data versions."""
    frames, versions = [], {}
    for path in sorted((home.parquet / LABELS_ASSET).glob("round_*.parquet"), key=lambda p: round_number(p.stem)):
        frame, version = read_frame(path)
        frames.append(frame.with_columns(pl.lit(round_number(path.stem)).alias("label_round")))
        versions[version_label(LABELS_ASSET, path.stem)] = version or ""
    return (pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()), versions


def prospective_threshold(home: Home, labels: pl.DataFrame) -> float | None:
    """The F1-optimal threshold on labels scored by the model of their round, which had not seen them."""
    if labels.is_empty():
        return None
    scored = []
    for number in labels["label_round"].unique().to_list():
        path = home.asset_file("reward_scores", f"round_{number}")
        if path.exists():
            scores = read_frame(path)[0].select("candidate_id", "score")
            scored.append(labels.filter(pl.col("label_round") == number).join(scores, on="candidate_id"))
    if not scored:
        return None
    joined = pl.concat(scored)
    return f1_threshold(joined["label"].to_list(), joined["score"].to_list())
