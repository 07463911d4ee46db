"""Stage 3 through Dagster with the tiny base: nl2sql_model, nl2sql_evaluation, their views, reuse and failures."""

import json
import logging
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

import asasql_resources.nl2sql.finetune as sft
import asasql_resources.nl2sql.gate as gate
from asasql_assets.cli.main import main
from asasql_assets.cli.model import load_predictor
from asasql_assets.definitions import ROUND_ASSETS, STAGE1_ASSETS
from asasql_assets.evaluation.assets import nl2sql_evaluation
from asasql_assets.finetune.assets import filtered_dataset, nl2sql_model, nl2sql_model_labeled_only
from asasql_assets.finetune.checks import no_test_question_in_training_set
from asasql_assets.finetune.filtering import DATASET_SCHEMA
from asasql_assets.resources import build_resources
from asasql_resources.domain import load_domain
from asasql_resources.domain.resource import DomainResource
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.nl2sql.predict import Predictor
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager, connect_readonly, read_frame, write_frame

DEMO = Path(__file__).resolve().parents[1] / "project_data"
UPSTREAM = [*STAGE1_ASSETS, *ROUND_ASSETS, filtered_dataset]
STAGE3 = [nl2sql_model, nl2sql_model_labeled_only, nl2sql_evaluation]
TEST_QUESTIONS = 6
CONFIG = {
    "ops": {
        "nl2sql_model": {"config": {"epochs": 1, "batch_size": 4, "max_length": 512, "gate_max_new_tokens": 16}},
        "nl2sql_evaluation": {"config": {"test_limit": TEST_QUESTIONS, "max_new_tokens": 16}},
    }
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dataset(rows: int = 12) -> pl.DataFrame:
    """Training pairs from the gold bank: a third labeled (corrected), the rest synthetic."""
    gold = load_domain(DEMO).gold_bank.head(rows)
    return gold.select(
        "question",
        "sql",
        pl.lit("instances").alias("table_name"),
        pl.lit("(instances;VMs)").alias("table"),
        pl.lit("").alias("column"),
        pl.lit(0.9).alias("score"),
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.lit("corrected"))
        .otherwise(pl.lit("synthetic"))
        .alias("source"),
        pl.format("c{}", pl.int_range(pl.len())).alias("candidate_id"),
    ).cast(DATASET_SCHEMA)


def _home(tmp_path: Path, dataset: pl.DataFrame) -> Home:
    """A home holding the demo catalog and test set, and a filtered_dataset."""
    home = Home(tmp_path / "home")
    write_frame(load_domain(DEMO).catalog, home.asset_file("schema_catalog", None))
    write_frame(load_domain(DEMO).test_set, home.asset_file("schema_catalog__test_set", None))
    write_frame(dataset, home.asset_file("filtered_dataset", None))
    return home


def _materialize(
    home: Home,
    tiny_model: Path,
    assets: list,
    instance: dg.DagsterInstance | None = None,
    evaluation: dict | None = None,
):
    """Materialize Stage 3 assets with the tiny base (the evaluation's config replaced); failures are returned."""
    resources = {
        **build_resources(),
        "io_manager": WarehouseIOManager(home=str(home.root)),
        "domain": DomainResource(path=str(DEMO)),
        "sandbox": SqlSandbox(),
        "nl2sql_base": Nl2SqlBase(model=str(tiny_model)),
    }
    return dg.materialize(
        [*UPSTREAM, *STAGE3],
        selection=dg.AssetSelection.assets(*assets),
        resources=resources,
        run_config={
            "ops": {
                name: ({"config": evaluation} if evaluation and name == "nl2sql_evaluation" else CONFIG["ops"][name])
                for name in (a.key.path[-1] for a in assets)
                if name in CONFIG["ops"]
            }
        },
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The description of the failed step."""
    return next(e.step_failure_data.user_failure_data.description for e in result.all_events if e.is_step_failure)


def test_nl2sql_model_and_evaluation_fill_their_views_and_the_run_history(tiny_model: Path, tmp_path: Path) -> None:
    home = _home(tmp_path, _dataset())
    result = _materialize(home, tiny_model, [nl2sql_model, nl2sql_model_labeled_only, nl2sql_evaluation])
    assert result.success
    con = connect_readonly(home)
    try:
        model = con.execute(
            "SELECT adapter_path, n_train, n_val, val_loss, n_synthetic, n_labeled FROM nl2sql_model"
        ).fetchall()
        gate = con.sql("SELECT adopted, val_ex_base, val_ex_fine_tuned, n_val_ex FROM nl2sql_model").pl()
        evaluation = con.sql("SELECT * FROM nl2sql_evaluation").pl()
        history = con.execute("SELECT DISTINCT run_id, model FROM _evaluations").fetchall()
        judged = con.execute("SELECT model, count(*) FROM _evaluation_items GROUP BY model ORDER BY model").fetchall()
    finally:
        con.close()
    ((adapter_path, n_train, n_val, val_loss, n_synthetic, n_labeled),) = model
    # 4 labeled (corrected) pairs: half of them are held out for the gate, the rest and the synthetic ones trained on
    assert Path(adapter_path, "manifest.json").exists() and n_train + n_val == 10 and val_loss > 0
    bank = read_frame(Path(adapter_path, "examples.parquet"))[0]
    assert bank.height == 10, "the training set is the example bank, saved with the adapter"
    assert (n_synthetic, n_labeled) == (8, 2)
    ((adopted, val_ex_base, val_ex_fine_tuned, n_val_ex),) = gate.rows()
    assert n_val_ex == 2 and 0 <= val_ex_base <= 1 and 0 <= val_ex_fine_tuned <= 1
    assert adopted == ("fine_tuned" if val_ex_fine_tuned >= val_ex_base else "base")
    held_out = set(_dataset()["question"]) - set(bank["question"])
    assert len(held_out) == 2 and held_out <= set(_dataset().filter(pl.col("source") == "corrected")["question"])
    manifest = json.loads(Path(adapter_path, "manifest.json").read_text())
    assert manifest["metrics"]["gate"]["adopted"] == adopted and manifest["metrics"]["gate"]["n_val_ex"] == 2
    assert {"model", "category", "n", "ex", "parse_rate", "exec_rate"} <= set(evaluation.columns)
    overall = evaluation.filter((pl.col("category") == "all") & (pl.col("split") == "all"))
    models = ["adopted", "base", "fine_tuned", "labeled_only"]
    assert sorted(overall["model"].to_list()) == models
    assert overall["n"].to_list() == [TEST_QUESTIONS] * 4
    assert evaluation["ex"].is_between(0, 1).all()
    chosen = evaluation.filter(pl.col("model") == "adopted").drop("model")
    assert chosen.equals(evaluation.filter(pl.col("model") == adopted).drop("model")), "the adopted model's rows"
    assert {run for run, _ in history} == {result.run_id} and len(history) == 4
    assert judged == [(name, TEST_QUESTIONS) for name in models]
    assert Path(home.models / "nl2sql_model" / "labeled_only" / "manifest.json").exists()
    ablation = read_frame(home.asset_file("nl2sql_model_labeled_only", None))[0]
    gated = ["adopted", "val_ex_base", "val_ex_fine_tuned", "n_val_ex"]
    assert ablation.columns + gated == read_frame(home.asset_file("nl2sql_model", None))[0].columns, "the same row"
    # like for like: the 2 labeled pairs that nl2sql_model's gate held out are not trained on here either
    assert ablation.select("n_synthetic", "n_labeled").row(0) == (0, 2)
    assert Path(ablation["adapter_path"][0]) == home.models / "nl2sql_model" / "labeled_only"
    versions = dict(con_rows(home, "SELECT DISTINCT model, model_version FROM _evaluations"))
    assert versions["labeled_only"] == ablation["model_version"][0]
    assert versions["adopted"] == versions[adopted]
    metadata = result.asset_materializations_for_node("nl2sql_evaluation")[0].metadata
    assert "data:image/png;base64" in metadata["ex_by_category"].value and "ex_fine_tuned" in metadata
    assert metadata["adopted"].value == adopted
    ex = dict(overall.select("model", "ex").rows())
    assert metadata["ex_adopted"].value == round(ex["adopted"], 4) == round(ex[adopted], 4), "EX on the whole test set"

    again = _materialize(home, tiny_model, [nl2sql_model, nl2sql_model_labeled_only])
    for name in ("nl2sql_model", "nl2sql_model_labeled_only"):
        assert again.asset_materializations_for_node(name)[0].metadata["reused"].value is True, name
    assert again.asset_materializations_for_node("nl2sql_model")[0].metadata["gate_reused"].value is True


def test_the_gate_refuses_an_adapter_that_does_worse_than_the_base(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def judged(answerer: Predictor, *args: object, **kwargs: object) -> tuple[float, int]:
        """The base (its Nl2SqlBase.load) answers 1 of the 2 held-out pairs; every epoch of the adapter, none."""
        return (0.5, 2) if answerer.load.__name__ == "load" else (0.0, 2)

    monkeypatch.setattr(gate, "validation_ex", judged)
    home = _home(tmp_path, _dataset())
    config = {"labeled_only": False, "test_limit": TEST_QUESTIONS, "max_new_tokens": 16}
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize(home, tiny_model, [nl2sql_model, nl2sql_evaluation], instance, evaluation=config)
    assert result.success
    row = read_frame(home.asset_file("nl2sql_model", None))[0].row(0, named=True)
    assert (row["adopted"], row["val_ex_base"], row["val_ex_fine_tuned"], row["n_val_ex"]) == ("base", 0.5, 0.0, 2)
    assert json.loads(Path(row["adapter_path"], "manifest.json").read_text())["metrics"]["gate"]["adopted"] == "base"
    warnings = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level == logging.WARNING]
    assert any("the base is adopted" in message for message in warnings), warnings
    evaluation = read_frame(home.asset_file("nl2sql_evaluation", None))[0]
    assert sorted(set(evaluation["model"])) == ["adopted", "base", "fine_tuned"]
    chosen = evaluation.filter(pl.col("model") == "adopted").drop("model")
    assert chosen.equals(evaluation.filter(pl.col("model") == "base").drop("model")), "the base's figures"

    predictor, _ = load_predictor(home, DEMO)
    assert predictor.load.__name__ == "load", "the base itself, not the adapter merged in"
    assert predictor.bank is not None and predictor.bank.pairs.height == 10, "with the adapter's example bank"


def test_an_interrupted_training_leaves_the_previous_model(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, _dataset())
    assert _materialize(home, tiny_model, [nl2sql_model]).success
    adapter = home.models / "nl2sql_model" / "fine_tuned"
    before = {path.name: path.read_bytes() for path in adapter.iterdir()}
    row_before = read_frame(home.asset_file("nl2sql_model", None))[0]
    write_frame(_dataset(9), home.asset_file("filtered_dataset", None))

    def interrupted(*args: object, **kwargs: object) -> float:
        raise RuntimeError("stopped in the middle of an epoch")

    monkeypatch.setattr(sft, "train_epoch", interrupted)
    result = _materialize(home, tiny_model, [nl2sql_model])
    assert not result.success and "stopped in the middle of an epoch" in str(result.all_events)
    assert {path.name: path.read_bytes() for path in adapter.iterdir()} == before
    assert read_frame(home.asset_file("nl2sql_model", None))[0].equals(row_before)
    assert not [p for p in adapter.parent.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_an_empty_training_set_names_the_filter_that_emptied_it(tiny_model: Path, tmp_path: Path) -> None:
    home = _home(tmp_path, _dataset().head(0))
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(
        dg.AssetMaterialization("filtered_dataset", metadata={"emptied_by": "below_threshold"})
    )
    result = _materialize(home, tiny_model, [nl2sql_model], instance)
    assert not result.success
    message = _failure(result)
    assert "filtered_dataset is empty" in message and "'below_threshold'" in message
    assert not home.asset_file("nl2sql_model", None).exists()


def test_export_writes_every_format_and_predict_answers_from_the_latest_model(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, _dataset())
    assert _materialize(home, tiny_model, [nl2sql_model]).success
    args = ["--home", str(home.root), "--domain", str(DEMO)]
    for fmt, name in (("jsonl", "train.jsonl"), ("alpaca", "alpaca.json"), ("sharegpt", "sharegpt.json")):
        with pytest.raises(SystemExit) as done:
            main(["export", "--format", fmt, str(tmp_path / name), *args])
        assert done.value.code == 0
    lines = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    assert {"origin_query", "sql", "table_name", "table", "column", "schema_context"} <= set(lines[0])
    assert "regions(region_id" in lines[0]["schema_context"]
    alpaca = json.loads((tmp_path / "alpaca.json").read_text())
    assert alpaca[0]["output"] == lines[0]["sql"] and lines[0]["origin_query"] in alpaca[0]["instruction"]
    shown = alpaca[0]["instruction"].split("A similar question and its SQL:\nQuestion: ")[1].split("\n")[0]
    assert shown != lines[0]["origin_query"] and shown in {line["origin_query"] for line in lines}
    sharegpt = json.loads((tmp_path / "sharegpt.json").read_text())
    assert [turn["from"] for turn in sharegpt[0]["conversations"]] == ["human", "gpt"]

    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"question": "How many regions are there?"}, {"question": "List the hosts."}]))
    with pytest.raises(SystemExit) as done:
        main(["predict", "--file", str(questions), "--out", str(tmp_path / "predictions.json"), *args])
    assert done.value.code == 0
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    assert [p["question"] for p in predictions] == ["How many regions are there?", "List the hosts."]
    assert all(set(p) == {"question", "sql"} for p in predictions)

    questions.write_text(json.dumps([{"query": "no question key"}]))
    with pytest.raises(SystemExit) as done:
        main(["predict", "--file", str(questions), "--out", str(tmp_path / "bad.json"), *args])
    assert done.value.code == 2 and not (tmp_path / "bad.json").exists()
    assert "item 1, key question: expected a non-empty string" in capsys.readouterr().err

    monkeypatch.setenv("ASASQL_NL2SQL_DEVICE", "gpu")
    with pytest.raises(SystemExit) as done:
        main(["predict", "How many regions are there?", *args])
    assert done.value.code == 1
    assert "error: ASASQL_NL2SQL_DEVICE='gpu': not a torch device" in capsys.readouterr().err


def test_export_without_a_run_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(["export", str(tmp_path / "out.jsonl"), "--home", str(tmp_path / "empty")])
    assert done.value.code == 1 and "run `asasql run`" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def con_rows(home: Home, sql: str) -> list[tuple]:
    """The rows of one query on the warehouse."""
    con = connect_readonly(home)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_evaluation_asks_for_the_ablation_when_it_is_missing(tiny_model: Path, tmp_path: Path) -> None:
    home = _home(tmp_path, _dataset())
    write_frame(pl.DataFrame({"adapter_path": ["unused"]}), home.asset_file("nl2sql_model", None))
    result = _materialize(home, tiny_model, [nl2sql_evaluation])
    assert not result.success
    assert "nl2sql_model_labeled_only has not been materialized" in _failure(result)


def test_the_leak_check_names_a_test_question_in_the_training_set() -> None:
    test_set = load_domain(DEMO).test_set
    clean = no_test_question_in_training_set(filtered_dataset=_dataset(), schema_catalog__test_set=test_set)
    assert clean.passed and clean.metadata["leaked"].value == 0
    test_question = load_domain(DEMO).test_set["question"][0]
    leaked = _dataset().with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(test_question.upper()))
        .otherwise(pl.col("question"))
        .alias("question")
    )
    result = no_test_question_in_training_set(filtered_dataset=leaked, schema_catalog__test_set=test_set)
    assert not result.passed and result.metadata["leaked"].value == 1
    assert test_question.upper() in result.metadata["examples"].value
