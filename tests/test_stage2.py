"""Stage 2 through Dagster: two rounds with the reference annotator on the demo domain, with the tiny reward base."""

import json
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import openpyxl
import polars as pl
import pytest

from asasql_assets.active.assets import clusters, labeled_rounds, reward_model, reward_scores
from asasql_assets.active.checks import reward_model_not_stale
from asasql_assets.active.rounds import StopRule
from asasql_assets.active.sensors import annotation_workbooks
from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.cli import rounds as rounds_cli
from asasql_assets.cli.jobs import Runner
from asasql_assets.cli.run import active_learning, print_summary
from asasql_assets.definitions import ROUND_ASSETS, STAGE1_ASSETS
from asasql_assets.finetune.assets import filtered_dataset
from asasql_assets.partitions import ROUNDS
from asasql_assets.synthesis.extraction import extract_columns
from asasql_assets.synthesis.steps import CANDIDATE_SCHEMA
from asasql_resources.annotation import Annotator
from asasql_resources.domain import load_domain
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.reward.model import RewardModel
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager, connect_readonly, content_hash, read_frame, write_frame

DEMO = Path(__file__).resolve().parents[1] / "project_data"
ASSETS = [*STAGE1_ASSETS, *ROUND_ASSETS]
ROUND = dg.AssetSelection.assets(reward_model, reward_scores, clusters, labeled_rounds)
BUDGET = 6
RUN_CONFIG = {
    "ops": {
        "reward_model": {"config": {"epochs": 2, "batch_size": 8}},
        "clusters": {"config": {"k": 4, "budget": BUDGET}},
    }
}


def _wrong(sql: str) -> str:
    """A plausible but wrong variant of a gold SQL: a changed literal or limit, else an added filter."""
    changed = re.sub(r"'[^']*'", "'nowhere'", sql, count=1)
    if changed != sql:
        return changed
    changed = re.sub(r"LIMIT \d+", "LIMIT 1000", sql)
    return changed if changed != sql else f"SELECT * FROM ({sql}) AS s LIMIT 0"


@pytest.fixture(scope="module")
def stage2(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, dg.DagsterInstance, dict]:
    """A home with the demo catalog and a pool of 24 gold-bank questions (gold SQL and a wrong variant each)."""
    home = Home(tmp_path_factory.mktemp("stage2-home"))
    resources = {
        "io_manager": WarehouseIOManager(home=str(home.root)),
        "domain": DomainResource(path=str(DEMO)),
        "chat": ChatModel(model=str(tiny_model), home=str(home.root), dtype="float32"),
        "embedder": Embedder(),
        "sandbox": SqlSandbox(),
        "reward_base": RewardModel(base=str(tiny_model), max_length=128),
        "annotator": Annotator(kind="reference"),
    }
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([schema_catalog], resources=resources, instance=instance).success
    domain = load_domain(DEMO)
    gold = domain.gold_bank.filter(~pl.col("sql").str.contains("JOIN")).head(24)
    rows = []
    for i, (question, sql) in enumerate(gold.select("question", "sql").iter_rows()):
        table = re.search(r"FROM (\w+)", sql).group(1)
        for j, candidate in enumerate([sql, _wrong(sql)]):
            rows.append([f"q{i:02d}-{j}", f"q{i:02d}", question, table, candidate, "full_table", False, candidate])
    rows.append(
        [
            "synthetic-0",
            "s0",
            "How many regions are there?",
            "regions",
            "SELECT count(*) FROM regions",
            "full_table",
            False,
            "",
        ]
    )
    candidates = pl.DataFrame(rows, schema=CANDIDATE_SCHEMA, orient="row")
    with SqlSandbox().session(domain.database_path, domain.catalog) as session:
        pool = extract_columns(candidates, domain.catalog, "duckdb", session)
    write_frame(pool, home.asset_file("extracted_columns", None), content_hash(pool))
    instance.add_dynamic_partitions(ROUNDS.name, ["round_0", "round_1", "round_2", "round_3"])
    return home, instance, resources


def _round(stage2: tuple, partition: str, selection: dg.AssetSelection = ROUND) -> dg.ExecuteInProcessResult:
    home, instance, resources = stage2
    chosen = {key.to_user_string() for key in selection.resolve(ASSETS)}
    return dg.materialize(
        ASSETS + [reward_model_not_stale],
        selection=selection,
        partition_key=partition,
        resources=resources,
        instance=instance,
        run_config={"ops": {name: config for name, config in RUN_CONFIG["ops"].items() if name in chosen}},
        raise_on_error=False,
    )


def test_two_rounds_train_score_select_and_label(stage2: tuple) -> None:
    home = stage2[0]
    assert _round(stage2, "round_0").success
    model0 = read_frame(home.asset_file("reward_model", "round_0"))[0].row(0, named=True)
    assert model0["n_labels"] == 0 and model0["trained_on"] == "{}" and Path(model0["adapter_path"]).is_dir()
    scores = read_frame(home.asset_file("reward_scores", "round_0"))[0]
    assert scores.height == 49 and scores["score"].is_between(0, 1).all()
    chosen = read_frame(home.asset_file("clusters", "round_0"))[0].filter(pl.col("selected"))
    assert chosen.height == BUDGET and not chosen["candidate_id"].str.starts_with("synthetic").any()
    labels0 = read_frame(home.asset_file("labeled_rounds", "round_0"))[0]
    judged = labels0.filter(pl.col("source") == "candidate")
    assert judged.height == BUDGET
    expected = {cid: cid.endswith("-0") for cid in judged["candidate_id"].to_list()}
    assert dict(zip(judged["candidate_id"].to_list(), judged["label"].to_list(), strict=False)) == expected
    corrected = labels0.filter(pl.col("source") == "corrected")
    wrong = sorted(cid for cid, ok in expected.items() if not ok)
    assert sorted(corrected["candidate_id"].to_list()) == [f"{cid}#corrected" for cid in wrong]
    gold = dict(load_domain(DEMO).gold_bank.select("question", "sql").iter_rows())
    assert all(gold[q] == sql for q, sql in corrected.select("question", "sql").iter_rows()), "the gold SQL corrects"
    assert set(labels0["annotator_kind"].to_list()) == {"reference"}
    assert set(labels0["model_version"].to_list()) == {model0["model_version"]}

    assert _round(stage2, "round_1").success
    model1 = read_frame(home.asset_file("reward_model", "round_1"))[0].row(0, named=True)
    assert model1["n_labels"] == labels0.height
    assert list(pl.Series([model1["trained_on"]]).str.json_decode()[0].keys()) == ["labeled_rounds[round_0]"]
    chosen1 = read_frame(home.asset_file("clusters", "round_1"))[0].filter(pl.col("selected"))
    assert chosen1.height == BUDGET and not set(chosen1["candidate_id"].to_list()) & set(
        labels0["candidate_id"].to_list()
    )

    con = connect_readonly(home)
    try:
        view = con.execute(
            "SELECT round, adapter_path, n_train, val_accuracy, val_auc FROM reward_model ORDER BY round"
        ).fetchall()
        lineage = con.execute(
            "SELECT upstream_versions FROM _materializations WHERE asset = 'reward_model' AND partition = 'round_1'"
        ).fetchone()[0]
    finally:
        con.close()
    assert [row[0] for row in view] == [0, 1]
    assert "labeled_rounds[round_0]" in str(lineage)


def test_a_round_out_of_order_is_refused_and_a_changed_label_makes_later_models_stale(stage2: tuple) -> None:
    home = stage2[0]
    if not home.asset_file("labeled_rounds", "round_1").exists():
        pytest.skip("needs the two rounds of the previous test")
    result = _round(stage2, "round_3", dg.AssetSelection.assets(reward_model))
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "round_2 is not labeled yet; run round_2 first" in failure

    labels0, _ = read_frame(home.asset_file("labeled_rounds", "round_0"))
    flipped = labels0.with_columns(~pl.col("label"))
    write_frame(flipped, home.asset_file("labeled_rounds", "round_0"), content_hash(flipped))
    check = _round(stage2, "round_2", dg.AssetSelection.assets(reward_model))
    evaluations = check.get_asset_check_evaluations()
    assert evaluations and not evaluations[0].passed
    assert "round_1" in str(evaluations[0].metadata["details"].value)


def _fill(path: Path, labels: dict[int, tuple[str, str | None]]) -> None:
    """Write a label (and a corrected SQL) into data rows of a workbook, as an annotator would."""
    book = openpyxl.load_workbook(path)
    sheet = book["labels"]
    header = [cell.value for cell in sheet[1]]
    for row in range(2, sheet.max_row + 1):
        label, corrected = labels.get(row, ("correct", None))
        sheet.cell(row, header.index("label") + 1, label)
        sheet.cell(row, header.index("corrected_sql") + 1, corrected)
    book.save(path)


def test_workbook_round_trip_through_the_sensor_and_labeled_rounds(stage2: tuple, tmp_path: Path) -> None:
    home, instance, resources = stage2
    if not home.asset_file("clusters", "round_0").exists():
        pytest.skip("needs round_0 of the first test")
    os.environ["ASASQL_HOME"] = str(home.root)
    try:
        assert rounds_cli.export("round_0", home.root, overwrite=False) == 0
    finally:
        del os.environ["ASASQL_HOME"]
    path = home.annotations / "round_0.xlsx"
    workbook = {**resources, "annotator": Annotator(kind="workbook", annotator_id="ana")}
    sensor = annotation_workbooks(dg.build_sensor_context(instance=instance, resources=workbook))
    assert isinstance(sensor, dg.SkipReason) and "0/6 labeled" in sensor.skip_message

    _fill(path, {2: ("incorrect", "SELECT count(*) FROM no_such_table")})
    before = home.asset_file("labeled_rounds", "round_0").read_bytes()
    failed = dg.materialize(
        ASSETS,
        selection=dg.AssetSelection.assets(labeled_rounds),
        partition_key="round_0",
        resources=workbook,
        instance=instance,
        raise_on_error=False,
    )
    assert not failed.success
    message = failed.get_step_failure_events()[0].step_failure_data.error.message
    assert "row 2, column corrected_sql: the corrected SQL does not run" in message
    assert home.asset_file("labeled_rounds", "round_0").read_bytes() == before, "nothing written on error"

    _fill(path, {2: ("incorrect", "SELECT count(*) FROM regions"), 3: ("incorrect", None)})
    requests = annotation_workbooks(dg.build_sensor_context(instance=instance, resources=workbook)).run_requests
    assert [request.partition_key for request in requests] == ["round_0"]
    done = dg.materialize(
        ASSETS,
        selection=dg.AssetSelection.assets(labeled_rounds),
        partition_key="round_0",
        resources=workbook,
        instance=instance,
    )
    assert done.success
    labels = read_frame(home.asset_file("labeled_rounds", "round_0"))[0]
    assert labels.height == BUDGET + 1
    assert labels.filter(pl.col("source") == "corrected").select("sql", "label").row(0) == (
        "SELECT count(*) FROM regions",
        True,
    )
    assert labels["label"].sum() == BUDGET + 1 - 2
    assert set(labels["annotator_id"].to_list()) == {"ana"}


def test_asasql_run_rounds_go_through_the_instance_and_stop_with_a_reason(
    stage2: tuple, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    source = stage2[0]
    home = Home(tmp_path / "home")
    for asset in ("schema_catalog", "schema_catalog__samples", "schema_catalog__gold_bank", "extracted_columns"):
        frame, version = read_frame(source.asset_file(asset, None))
        write_frame(frame, home.asset_file(asset, None), version)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    runner = Runner.for_run(home, DEMO, "reference")
    runner = Runner(home, {**runner.settings, "ASASQL_REWARD_BASE": str(tiny_model)})
    environment = dict(os.environ)
    runs, reason, complete = active_learning(runner, StopRule(max_rounds=1), "reference")
    assert dict(os.environ) == environment, "the CLI passes settings to resources, never through os.environ"
    assert reason == "ran the 1 round(s) asked for (--rounds 1)" and complete
    assert len(runs) == 4, "reward_model[0], scores and clusters[0], labels[0], reward_model[1]"
    assert home.asset_file("labeled_rounds", "round_0").exists() and home.asset_file("reward_model", "round_1").exists()
    with runner.instance() as instance:
        assert instance.get_dynamic_partitions(ROUNDS.name) == ["round_0", "round_1"]
        assert all(instance.get_run_by_id(run).is_success for run in runs)
    print_summary(home, runs)
    assert "reward model by round:" in capsys.readouterr().out


def test_filtered_dataset_reads_the_last_round_and_every_label(stage2: tuple, tmp_path: Path) -> None:
    source, _, resources = stage2
    if not source.asset_file("reward_model", "round_1").exists():
        pytest.skip("needs the rounds of the first test")
    home = Home(tmp_path / "home")
    shutil.copytree(source.parquet, home.parquet)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(ROUNDS.name, ["round_0", "round_1"])
    result = dg.materialize(
        [*ASSETS, filtered_dataset],
        selection=dg.AssetSelection.assets(filtered_dataset),
        resources={**resources, "io_manager": WarehouseIOManager(home=str(home.root))},
        instance=instance,
    )
    assert result.success
    dataset = read_frame(home.asset_file("filtered_dataset", None))[0]
    labels = pl.concat([read_frame(home.asset_file("labeled_rounds", key))[0] for key in ("round_0", "round_1")])
    positives = labels.filter(pl.col("label"))
    assert set(positives["question"].to_list()) <= set(dataset["question"].to_list())
    assert dataset["question"].is_unique().all(), "one pair per question"
    test_questions = set(load_domain(DEMO).test_set["question"].to_list())
    assert not test_questions & set(dataset["question"].to_list())
    metadata = result.asset_materializations_for_node("filtered_dataset")[0].metadata
    assert "below_threshold" in metadata["waterfall"].value and metadata["threshold"].value > 0
    assert metadata["label_rounds"].value == "round_0, round_1" and metadata["reward_model_round"].value == "round_1"
    con = connect_readonly(home)
    try:
        (lineage,) = con.execute(
            "SELECT upstream_versions FROM _materializations WHERE asset = 'filtered_dataset'"
        ).fetchone()
    finally:
        con.close()
    declared = {"labeled_rounds[round_0]", "labeled_rounds[round_1]", "reward_scores[round_1]", "reward_model[round_1]"}
    assert declared <= set(json.loads(lineage) if isinstance(lineage, str) else dict(lineage)), "declared and recorded"
    assert metadata["reused_scores"].value > 0, "reward_scores[round_1] is reward_model[round_1]'s: reused"
