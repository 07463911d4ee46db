"""Active-learning rounds as dynamic partitions (round_0, round_1, …), and the assets partitioned by them."""

import re

import dagster as dg

from asasql_resources.warehouse.home import shown

ROUNDS = dg.DynamicPartitionsDefinition(name="al_round")
LABELS_ASSET = "labeled_rounds"  # the round-partitioned assets that later rounds and Stage 3 read
MODEL_ASSET = "reward_model"
MAX_ROUND_DIGITS = 6  # round_999999 at most: a bounded key, a bounded file name
ROUND_KEY = re.compile(rf"^round_(0|[1-9][0-9]{{0,{MAX_ROUND_DIGITS - 1}}})$")
ROUND_FORM = f"rounds are named round_0, round_1, … (at most {MAX_ROUND_DIGITS} digits)"


def round_key(number: int) -> str:
    """The partition key of round `number`."""
    if not 0 <= number < 10**MAX_ROUND_DIGITS:
        raise ValueError(f"round numbers run from 0 to {10**MAX_ROUND_DIGITS - 1}, got {number}")
    return f"round_{number}"


def round_number(key: str) -> int:
    """The number of a round key such as round_3; anything else is refused with the expected form."""
    match = ROUND_KEY.fullmatch(key.strip()) if isinstance(key, str) else None
    if match is None:
        raise ValueError(f"{shown(str(key))} is not a round: {ROUND_FORM}")
    return int(match.group(1))


def checked_round(key: str) -> str:
    """The key itself when it is exactly a round key (no spaces around it either); ValueError otherwise."""
    round_number(key)
    if key != key.strip():
        raise ValueError(f"{shown(key)} is not a round: {ROUND_FORM}, without spaces")
    return key
