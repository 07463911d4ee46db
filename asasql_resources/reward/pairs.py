"""The reward model's pairs: a pair's schema context in the seed's format, and its training frame."""

from __future__ import annotations

import polars as pl

TRAINING_SCHEMA = {
    "question": pl.String,
    "context": pl.String,
    "sql": pl.String,
    "label": pl.Boolean,
    "source": pl.String,
}


def with_context(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with `context`: a pair's schema context in the seed's format, the table field then the column field."""
    parts = [pl.when(pl.col(name) != "").then(pl.col(name)) for name in ("table", "column")]
    return frame.with_columns(pl.concat_str(parts, separator="\n", ignore_nulls=True).fill_null("").alias("context"))


def training_frame(samples: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """The reward model's examples: the domain's labeled samples, then every earlier round's labels."""
    seed = with_context(samples.rename({"origin_query": "question"})).with_columns(
        pl.lit("data_sample").alias("source")
    )
    frames = [seed.select(list(TRAINING_SCHEMA)).cast(TRAINING_SCHEMA)]
    if not labels.is_empty():
        rounds = with_context(labels).with_columns(pl.format("round_{}", "label_round").alias("source"))
        frames.append(rounds.select(list(TRAINING_SCHEMA)).cast(TRAINING_SCHEMA))
    return pl.concat(frames)
