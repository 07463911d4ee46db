"""Round keys are checked where they enter: `asasql run --rounds`, Runner.execute, and the round-partitioned assets."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from asasql_assets.active.assets import labeled_rounds, reward_model, reward_scores
from asasql_assets.cli.jobs import Runner
from asasql_assets.cli.run import rounds_ok, run
from asasql_assets.settings import TrainingConfig
from asasql_resources.annotation import Annotator
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.reward.model import RewardModel
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager

ASASQL = str(Path(sys.executable).with_name("asasql"))
DEMO = Path(__file__).resolve().parents[1] / "project_data"
NOT_ROUNDS = [
    "../../../../x/pwned",
    "round_1/../../x",
    " round_1",
    "round_1 ",
    "round_01",
    "round_" + "9" * 300,
    "round_1000000",
    "labels",
]


# --- asasql run --rounds --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rounds", [10**6, 10**6 + 1, 10**30, -1, -(10**6), -(10**4000), 10**4000])
def test_run_refuses_rounds_out_of_range_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rounds: int
) -> None:
    home = tmp_path / "home"
    assert run(DEMO, rounds, "reference", home) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --rounds must be from 0 to 999999, got ") and err.count("\n") == 1, err
    assert len(err) < 120, err
    assert not home.exists()


@pytest.mark.parametrize("rounds", [0, 1, 2, 999_999])
def test_rounds_in_range_are_accepted(rounds: int) -> None:
    assert rounds_ok(rounds) == rounds


@pytest.mark.parametrize("rounds", ["1000000", "-1", "99999999999999999999999"])
def test_asasql_run_rounds_out_of_range_is_exit_2_and_one_line(tmp_path: Path, rounds: str) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [ASASQL, "run", "--domain", str(DEMO), "--home", str(home), f"--rounds={rounds}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: --rounds must be from 0 to 999999"), done.stderr
    assert done.stdout == "" and not home.exists()


# --- Runner.execute ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", NOT_ROUNDS)
def test_runner_adds_no_partition_that_is_not_a_round(tmp_path: Path, key: str) -> None:
    home = Home(tmp_path / "home")
    with pytest.raises(ValueError, match="is not a round"):
        Runner.for_run(home).execute("active_learning_round", key, ["labeled_rounds"])
    assert not home.root.exists()  # refused before the instance (or anything else) is touched


# --- the round-partitioned assets -----------------------------------------------------------------------------


def _resources(home: Path) -> dict[str, object]:
    return {
        "io_manager": WarehouseIOManager(home=str(home)),
        "reward_base": RewardModel(),
        "annotator": Annotator(kind="workbook"),
        "domain": DomainResource(path=str(DEMO)),
        "sandbox": SqlSandbox(),
        "chat": ChatModel(),
    }


@pytest.mark.parametrize("key", NOT_ROUNDS)
def test_round_assets_refuse_a_partition_key_that_is_not_a_round(tmp_path: Path, key: str) -> None:
    home = tmp_path / "a" / "b" / "home"
    empty = pl.DataFrame()
    calls = {
        "reward_model": lambda context: reward_model(context, config=TrainingConfig(), schema_catalog__samples=empty),
        "reward_scores": lambda context: reward_scores(
            context, reward_model=pl.DataFrame({"adapter_path": ["x"], "model_version": ["v"]}), extracted_columns=empty
        ),
        "labeled_rounds": lambda context: labeled_rounds(
            context,
            clusters=empty,
            extracted_columns=empty,
            reward_scores=empty,
            schema_catalog=empty,
            schema_catalog__gold_bank=empty,
        ),
    }
    for name, call in calls.items():
        with dg.build_asset_context(partition_key=key, resources=_resources(home)) as context:
            with pytest.raises(dg.Failure, match="is not a round") as raised:
                call(context)
        assert "\n" not in raised.value.description and len(raised.value.description) < 200, name
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert all(path.parent == home for path in written), written  # the IO manager's own files, nothing more
    assert not (home / "models").exists() and not (home / "annotations").exists() and not (home / "parquet").exists()
