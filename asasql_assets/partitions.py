"""Active-learning rounds as dynamic partitions (round_0, round_1, …), and the assets partitioned by them."""

import re

import dagster as dg

ROUNDS = dg.DynamicPartitionsDefinition(name="al_round")
LABELS_ASSET = "labeled_rounds"  # the round-partitioned assets that later rounds and Stage 3 read
MODEL_ASSET = "reward_model"
ROUND_KEY = re.compile(r"^round_(0|[1-9][0-9]*)$")


def round_key(number: int) -> str:
    """The partition key of round `number`."""
    if number < 0:
        raise ValueError(f"round numbers start at 0, got {number}")
    return f"round_{number}"


def round_number(key: str) -> int:
    """The number of a round key such as round_3; anything else is refused with the expected form."""
    match = ROUND_KEY.match(key.strip())
    if match is None:
        raise ValueError(f"{key!r} is not a round: rounds are named round_0, round_1, …")
    return int(match.group(1))
