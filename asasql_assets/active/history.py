"""What earlier rounds left in the warehouse: their labels, with versions, and the models trained on them."""

import json

import polars as pl

from asasql_assets.partitions import LABELS_ASSET, MODEL_ASSET, round_key, round_number
from asasql_resources.warehouse import Home
from asasql_resources.warehouse.io_manager import version_label
from asasql_resources.warehouse.store import read_frame


class MissingRound(ValueError):
    """A round was asked for before the rounds it builds on."""


def earlier_labels(home: Home, number: int) -> tuple[pl.DataFrame, dict[str, str]]:
    """The labels of rounds 0 … number-1 and their data versions; a round not labeled yet is an error."""
    frames, versions, missing = [], {}, []
    for earlier in range(number):
        key = round_key(earlier)
        path = home.asset_file(LABELS_ASSET, key)
        if not path.exists():
            missing.append(key)
            continue
        frame, version = read_frame(path)
        frames.append(frame.with_columns(pl.lit(earlier).alias("label_round")))
        versions[version_label(LABELS_ASSET, key)] = version or ""
    if missing:
        raise MissingRound(
            f"{round_key(number)} builds on the labels of every earlier round, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not labeled yet; run {missing[0]} first"
        )
    labels = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    return labels, versions


def labeled_ids(labels: pl.DataFrame) -> set[str]:
    """The candidate ids that carry a label (corrected pairs point at the candidate they correct)."""
    return set(labels["candidate_id"].to_list()) if "candidate_id" in labels.columns else set()


def stale_rounds(home: Home) -> list[str]:
    """Reward-model rounds trained on a label partition that has changed (or vanished) since."""
    folder = home.parquet / MODEL_ASSET
    stale = []
    for path in sorted(folder.glob("round_*.parquet"), key=lambda p: round_number(p.stem)):
        trained_on = json.loads(read_frame(path)[0]["trained_on"][0] or "{}")
        for label, version in trained_on.items():
            key = label[len(LABELS_ASSET) + 1 : -1]
            current = home.asset_file(LABELS_ASSET, key)
            if not current.exists() or read_frame(current)[1] != version:
                stale.append(f"{path.stem} (trained on {label}, which changed)")
                break
    return stale


def answered_questions(labels: pl.DataFrame) -> set[str]:
    """The questions whose correct SQL is known: a pair of theirs was labeled correct, or corrected."""
    if "label" not in labels.columns:
        return set()
    return set(labels.filter(pl.col("label").fill_null(False))["question"].to_list())
