"""The leak check that Stage 1 and Stage 3 share: no held-out test question among an asset's questions."""

import dagster as dg

from asasql_resources.domain.leaks import leaked
from asasql_resources.domain.resource import DomainResource


def held_out_leak(questions: list[str], domain: DomainResource) -> dg.AssetCheckResult:
    """Fail, naming the questions, when any of them is a held-out test-set question (normalised text)."""
    test_set = domain.load().test_set
    found = leaked(questions, test_set["question"].to_list() if test_set is not None else [])
    return dg.AssetCheckResult(
        passed=not found, metadata={"leaked": len(found), "examples": "; ".join(found[:5]) or "none"}
    )
