"""Lineage in the graph: declared inputs of Stage 3, the ablation as an asset, the domain's files as assets, code versions."""

import json
import re
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from asasql_assets import versions
from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.definitions import ROUND_ASSETS, STAGE1_ASSETS, defs
from asasql_assets.finetune.assets import filtered_dataset
from asasql_assets.partitions import ROUNDS
from asasql_assets.resources import build_resources
from asasql_assets.synthesis.extraction import extract_columns
from asasql_assets.synthesis.steps import CANDIDATE_SCHEMA
from asasql_resources.domain import load_domain
from asasql_resources.domain.resource import DomainResource
from asasql_resources.reward.model import RewardModel
from asasql_resources.reward.scoring import scorable
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager, connect_readonly, content_hash, read_frame, write_frame
from asasql_resources.warehouse.io_manager import MATERIALIZED_PARTITIONS, OPTIONAL_KEY, PARTITIONS_KEY
from tests.domain_factory import DomainSpec, write_domain

DEMO = Path(__file__).resolve().parents[1] / "project_data"
ASSETS = [*STAGE1_ASSETS, *ROUND_ASSETS, filtered_dataset]


def _graph():  # noqa: ANN202 (an AssetGraph)
    return defs.resolve_asset_graph()


def _parents(asset: str) -> set[str]:
    return {key.to_user_string() for key in _graph().get(dg.AssetKey(asset)).parent_keys}


def test_filtered_dataset_declares_every_round_s_labels_and_scores() -> None:
    assert {
        "labeled_rounds",
        "reward_scores",
        "reward_model",
        "extracted_columns",
        "schema_catalog__test_set",
    } <= _parents("filtered_dataset")
    mappings = {
        dep.asset_key.to_user_string(): dep.partition_mapping for dep in next(iter(filtered_dataset.specs)).deps
    }
    assert isinstance(mappings["reward_model"], dg.LastPartitionMapping)
    assert isinstance(mappings["labeled_rounds"], dg.AllPartitionMapping)
    assert isinstance(mappings["reward_scores"], dg.AllPartitionMapping)


def test_the_ablation_is_an_asset_that_the_evaluation_reads() -> None:
    assert {"filtered_dataset", "nl2sql_model"} <= _parents("nl2sql_model_labeled_only")
    assert {"nl2sql_model", "nl2sql_model_labeled_only", "schema_catalog__test_set"} <= _parents("nl2sql_evaluation")
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey("nl2sql_model_labeled_only"))
    assert spec.group_name == "stage3_finetune"
    job = defs.resolve_job_def("finetune_and_evaluate")
    assert dg.AssetKey("nl2sql_model_labeled_only") in job.asset_layer.executable_asset_keys


def test_the_domain_files_reach_their_users_as_inputs() -> None:
    assert "schema_catalog__gold_bank" in _parents("labeled_rounds")
    leak = dg.AssetCheckKey(dg.AssetKey("filtered_dataset"), "no_test_question_in_training_set")
    deps = {dep.asset_key.to_user_string() for dep in _graph().get_check_spec(leak).additional_deps}
    assert deps == {"schema_catalog__test_set"}


def test_every_code_version_is_a_hash_of_its_source() -> None:
    specs = list(defs.resolve_all_asset_specs())
    assert all(re.fullmatch(r"[0-9a-f]{16}", spec.code_version or "") for spec in specs), [
        (s.key, s.code_version) for s in specs
    ]
    by_asset = {spec.key.to_user_string(): spec.code_version for spec in specs}
    assert by_asset["filtered_dataset"] != by_asset["schema_catalog"]
    assert by_asset["filtered_dataset"] == versions.code_version("asasql_assets.finetune.assets")
    closure = versions._closure("asasql_assets.finetune.assets")
    assert {
        "asasql_assets.finetune.filtering",
        "asasql_resources.reward.scoring",
        "asasql_resources.domain.loader",
    } <= closure
    assert "asasql_assets.definitions" not in closure


def test_a_code_version_changes_with_the_source_of_the_module_or_of_what_it_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, helper = tmp_path / "fake.py", tmp_path / "helper.py"
    fake.write_text("from asasql_assets.fake_helper import f\n")
    helper.write_text("def f():\n    return 1\n")
    real = versions._source
    files = {"asasql_assets.fake_module": fake, "asasql_assets.fake_helper": helper}
    monkeypatch.setattr(versions, "_source", lambda name: files.get(name) or real(name))
    compute = versions._hash.__wrapped__
    first = compute(("asasql_assets.fake_module",))
    assert compute(("asasql_assets.fake_module",)) == first, "deterministic"
    helper.write_text("def f():\n    return 2\n")
    second = compute(("asasql_assets.fake_module",))
    assert second != first, "a change in an imported project module changes the version"
    fake.write_text("from asasql_assets.fake_helper import f\nX = 1\n")
    assert compute(("asasql_assets.fake_module",)) not in {first, second}


def _catalog_outputs(domain: Path, home: Path) -> dict[str, dg.DataVersion]:
    result = dg.materialize(
        [schema_catalog],
        resources={"io_manager": WarehouseIOManager(home=str(home)), "domain": DomainResource(path=str(domain))},
    )
    assert result.success
    return {
        event.asset_key.to_user_string(): event.materialization.tags.get("dagster/data_version")
        for event in result.get_asset_materialization_events()
    }


def test_the_test_set_and_gold_bank_are_published_with_data_versions(tmp_path: Path) -> None:
    spec = DomainSpec()
    domain = write_domain(tmp_path / "shop", spec)
    home = tmp_path / "home"
    first = _catalog_outputs(domain, home)
    test_set = read_frame(Home(home).asset_file("schema_catalog__test_set", None))[0]
    assert test_set.columns == ["question", "sql", "category", "split"] and test_set.height == len(spec.test_set)
    assert read_frame(Home(home).asset_file("schema_catalog__gold_bank", None))[0].height == len(spec.gold_bank)

    changed = json.loads((domain / "test_set.json").read_text())
    changed[0]["question"] = "Total amount paid so far"
    (domain / "test_set.json").write_text(json.dumps(changed))
    second = _catalog_outputs(domain, home)
    assert second["schema_catalog__test_set"] != first["schema_catalog__test_set"], "a changed file, a new version"
    assert second["schema_catalog__gold_bank"] == first["schema_catalog__gold_bank"]
    assert second["schema_catalog"] == first["schema_catalog"]

    (domain / "test_set.json").unlink()
    (domain / "gold_bank.json").unlink()
    _catalog_outputs(domain, home)
    for asset in ("schema_catalog__test_set", "schema_catalog__gold_bank"):
        frame = read_frame(Home(home).asset_file(asset, None))[0]
        assert frame.is_empty() and frame.columns == ["question", "sql", "category", "split"]


# The IO manager's loads for declared inputs that may be partly missing.
PARTS = dg.DynamicPartitionsDefinition(name="parts")


@dg.asset(partitions_def=PARTS)
def upstream(context: dg.AssetExecutionContext) -> pl.DataFrame:
    return pl.DataFrame({"part": [context.partition_key]})


@dg.asset
def maybe() -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})


@dg.asset(
    ins={
        "upstream": dg.AssetIn(
            partition_mapping=dg.AllPartitionMapping(), metadata={PARTITIONS_KEY: MATERIALIZED_PARTITIONS}
        ),
        "maybe": dg.AssetIn(metadata={OPTIONAL_KEY: True}),
    }
)
def downstream(upstream: dict[str, pl.DataFrame], maybe: pl.DataFrame | None) -> pl.DataFrame:
    return pl.DataFrame({"parts": [",".join(upstream)], "maybe": [maybe is not None]})


def test_materialized_partitions_load_as_a_dict_and_an_optional_input_as_none(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    resources = {"io_manager": WarehouseIOManager(home=str(home.root))}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PARTS.name, ["p0", "p1", "p2"])
    for key in ("p0", "p1"):
        assert dg.materialize([upstream], partition_key=key, resources=resources, instance=instance).success
    assets = [upstream, maybe, downstream]
    selected = dg.AssetSelection.assets(downstream)
    assert dg.materialize(assets, selection=selected, resources=resources, instance=instance).success
    assert read_frame(home.asset_file("downstream", None))[0].row(0) == ("p0,p1", False)
    con = connect_readonly(home)
    try:
        (lineage,) = con.execute(
            "SELECT upstream_versions FROM _materializations WHERE asset = 'downstream'"
        ).fetchone()
    finally:
        con.close()
    assert set(json.loads(lineage) if isinstance(lineage, str) else dict(lineage)) == {"upstream[p0]", "upstream[p1]"}
    assert dg.materialize([maybe], resources=resources, instance=instance).success
    assert dg.materialize(assets, selection=selected, resources=resources, instance=instance).success
    assert read_frame(home.asset_file("downstream", None))[0].row(0) == ("p0,p1", True)


# filtered_dataset when the last round has a reward model only, and when it has its scores too.
LOADS: list[str] = []


class CountingReward(RewardModel):
    """A reward 'model' that scores every pair 0.9 and counts its loads (each one a model call)."""

    def load(self, adapter_dir: Path | None = None):  # noqa: ANN201
        LOADS.append(str(adapter_dir))

        class Handle:
            def score(self, pairs: list, batch_size: int = 16, progress: object = None) -> np.ndarray:
                return np.full(len(pairs), 0.9)

        return Handle()


def _rounds_home(tmp_path: Path) -> tuple[Home, dg.DagsterInstance, dict, pl.DataFrame]:
    """Demo catalog, a pool of gold-bank questions (right and wrong SQL), rounds 0-1 labeled and scored, round_2's model."""
    home = Home(tmp_path / "home")
    resources = {
        **build_resources(),
        "io_manager": WarehouseIOManager(home=str(home.root)),
        "domain": DomainResource(path=str(DEMO)),
        "sandbox": SqlSandbox(),
        "reward_base": CountingReward(),
    }
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([schema_catalog], resources=resources, instance=instance).success
    domain = load_domain(DEMO)
    gold = domain.gold_bank.filter(~pl.col("sql").str.contains("JOIN")).head(8)
    rows = []
    for i, (question, sql) in enumerate(gold.select("question", "sql").iter_rows()):
        table = re.search(r"FROM (\w+)", sql).group(1)
        for j, candidate in enumerate([sql, f"SELECT * FROM ({sql}) AS s LIMIT 0"]):
            rows.append([f"q{i}-{j}", f"q{i}", question, table, candidate, "full_table", False, candidate])
    candidates = pl.DataFrame(rows, schema=CANDIDATE_SCHEMA, orient="row")
    with SqlSandbox().session(domain.database_path, domain.catalog) as session:
        pool = extract_columns(candidates, domain.catalog, "duckdb", session)
    write_frame(pool, home.asset_file("extracted_columns", None), content_hash(pool))
    instance.add_dynamic_partitions(ROUNDS.name, ["round_0", "round_1", "round_2"])
    scorable_pool = scorable(pool)
    for number in range(3):
        key = f"round_{number}"
        model = pl.DataFrame({"adapter_path": [str(tmp_path / key)], "model_version": [f"v{number}"]})
        write_frame(model, home.asset_file("reward_model", key), content_hash(model))
        if number == 2:
            continue
        scores = scorable_pool.select(
            "candidate_id",
            pl.lit(0.3 + 0.2 * number).alias("score"),
            "pair_hash",
            pl.lit(f"v{number}").alias("model_version"),
        ).with_columns(
            pl.when(pl.col("candidate_id").str.ends_with("-0")).then(0.8).otherwise(pl.col("score")).alias("score")
        )
        write_frame(scores, home.asset_file("reward_scores", key), content_hash(scores))
        chosen = pool.filter(pl.col("question_id").is_in([f"q{2 * number}", f"q{2 * number + 1}"]))
        labels = chosen.select(
            "candidate_id",
            "question",
            "sql",
            "table",
            "column",
            pl.col("candidate_id").str.ends_with("-0").alias("label"),
            pl.lit("candidate").alias("source"),
        )
        write_frame(labels, home.asset_file("labeled_rounds", key), content_hash(labels))
    return home, instance, resources, scorable_pool


def _filtered(home: Home, instance: dg.DagsterInstance, resources: dict) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        ASSETS, selection=dg.AssetSelection.assets(filtered_dataset), resources=resources, instance=instance
    )
    assert result.success
    return result


def test_filtered_dataset_scores_with_the_last_model_and_reads_the_labeled_rounds(tmp_path: Path) -> None:
    home, instance, resources, pool = _rounds_home(tmp_path)
    LOADS.clear()
    result = _filtered(home, instance, resources)
    assert LOADS == [str(tmp_path / "round_2")], "round_2 has no scores: the pool is scored with reward_model[round_2]"
    metadata = result.asset_materializations_for_node("filtered_dataset")[0].metadata
    assert metadata["reward_model_round"].value == "round_2" and metadata["reward_model"].value == "v2"
    assert metadata["reused_scores"].value == 0
    assert metadata["label_rounds"].value == "round_0, round_1"
    assert metadata["threshold_from"].value == "labels"
    con = connect_readonly(home)
    try:
        (lineage,) = con.execute(
            "SELECT upstream_versions FROM _materializations WHERE asset = 'filtered_dataset'"
        ).fetchone()
    finally:
        con.close()
    upstream = set(json.loads(lineage) if isinstance(lineage, str) else dict(lineage))
    assert {
        "labeled_rounds[round_0]",
        "labeled_rounds[round_1]",
        "reward_scores[round_0]",
        "reward_scores[round_1]",
        "reward_model[round_2]",
        "schema_catalog__test_set",
        "extracted_columns",
    } <= upstream
    assert not {"labeled_rounds[round_2]", "reward_scores[round_2]", "reward_model[round_0]"} & upstream
    dataset = read_frame(home.asset_file("filtered_dataset", None))[0]
    synthetic = dataset.filter(pl.col("source") == "synthetic")
    assert synthetic.height and (synthetic["score"] == 0.9).all(), "the pool's scores are reward_model[round_2]'s"

    # reward_scores[round_2], by the same model: its scores are used, and no model is loaded.
    scores = pool.select("candidate_id", pl.lit(0.95).alias("score"), "pair_hash", pl.lit("v2").alias("model_version"))
    write_frame(scores, home.asset_file("reward_scores", "round_2"), content_hash(scores))
    LOADS.clear()
    again = _filtered(home, instance, resources)
    assert LOADS == []
    metadata = again.asset_materializations_for_node("filtered_dataset")[0].metadata
    assert metadata["reused_scores"].value == pool.height
    synthetic = read_frame(home.asset_file("filtered_dataset", None))[0].filter(pl.col("source") == "synthetic")
    assert synthetic.height and (synthetic["score"] == 0.95).all()
