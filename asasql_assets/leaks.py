"""The leak check that Stage 1 and Stage 3 share: no held-out test question among an asset's questions."""

import dagster as dg
import polars as pl

from asasql_resources.domain.leaks import leaked

# The asset that holds the held-out questions; a leak check declares it as an input (additional_ins).
TEST_SET_ASSET = "schema_catalog__test_set"
TEST_SET_IN = {TEST_SET_ASSET: dg.AssetIn(TEST_SET_ASSET)}


def held_out_leak(questions: list[str], test_set: pl.DataFrame) -> dg.AssetCheckResult:
    """Fail, naming the questions, when any of them is a held-out question of `test_set` (normalised text).

    `test_set` is the schema_catalog__test_set asset, declared as the check's input.
    """
    found = leaked(questions, test_set["question"].to_list())
    return dg.AssetCheckResult(
        passed=not found, metadata={"leaked": len(found), "examples": "; ".join(found[:5]) or "none"}
    )
