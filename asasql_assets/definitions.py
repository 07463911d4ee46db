"""The root of the asasql code location: every asset, check, job, sensor and resource."""

import dagster as dg

from asasql_assets.active.assets import clusters, labeled_rounds, reward_model, reward_scores
from asasql_assets.active.checks import reward_model_not_stale
from asasql_assets.active.sensors import annotation_workbooks
from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.catalog.checks import every_column_has_values, every_table_described
from asasql_assets.evaluation.assets import nl2sql_evaluation
from asasql_assets.finetune.assets import filtered_dataset, nl2sql_model, nl2sql_model_labeled_only
from asasql_assets.finetune.checks import no_test_question_in_training_set
from asasql_assets.resources import build_resources
from asasql_assets.synthesis.assets import extracted_columns, forward_queries, nl2sql_candidates
from asasql_assets.synthesis.checks import (
    candidates_belong_to_questions,
    execution_rate,
    forward_queries_not_empty,
    no_test_set_leak,
)

SYNTHESIS = dg.AssetSelection.assets(schema_catalog, forward_queries, nl2sql_candidates, extracted_columns)
ROUND = dg.AssetSelection.assets(reward_model, reward_scores, clusters, labeled_rounds)
FINETUNE = dg.AssetSelection.assets(filtered_dataset, nl2sql_model, nl2sql_model_labeled_only, nl2sql_evaluation)

synthesis_job = dg.define_asset_job(
    "asasql_main", selection=SYNTHESIS, description="Stage 1 of ASASQL on the configured domain: the candidate pool."
)
round_job = dg.define_asset_job(
    "active_learning_round",
    selection=ROUND,
    description="One active-learning round (one al_round partition): train, score, select, label.",
)
reward_job = dg.define_asset_job(
    "reward_model_only",
    selection=dg.AssetSelection.assets(reward_model),
    description="The reward model of one round alone: how a run of N rounds ends, with reward_model[round_N].",
)
finetune_job = dg.define_asset_job(
    "finetune_and_evaluate",
    selection=FINETUNE,
    description="Stage 3 after the last round: the training set, the fine-tuned NL2SQL model and its evaluation.",
)

# The assets in graph order: Stage 1, one round, then Stage 3 (tests materialize prefixes of this list).
STAGE1_ASSETS = [schema_catalog, forward_queries, nl2sql_candidates, extracted_columns]
ROUND_ASSETS = [reward_model, reward_scores, clusters, labeled_rounds]
STAGE3_ASSETS = [filtered_dataset, nl2sql_model, nl2sql_model_labeled_only, nl2sql_evaluation]

defs = dg.Definitions(
    assets=[*STAGE1_ASSETS, *ROUND_ASSETS, *STAGE3_ASSETS],
    asset_checks=[
        every_table_described,
        every_column_has_values,
        forward_queries_not_empty,
        no_test_set_leak,
        candidates_belong_to_questions,
        execution_rate,
        reward_model_not_stale,
        no_test_question_in_training_set,
    ],
    jobs=[synthesis_job, round_job, reward_job, finetune_job],
    sensors=[annotation_workbooks],
    resources=build_resources(),
)
