"""The asasql command line, run as a user runs it: as a subprocess of the installed console script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asasql_assets.cli.run import RunInProgress, exclusive_run
from asasql_resources.domain import load_domain
from asasql_resources.warehouse import Home
from tests.domain_factory import DomainSpec, write_domain

ASASQL = str(Path(sys.executable).with_name("asasql"))


def _asasql(*args: str, home: Path | None = None, models: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the console script; `models` points the chat model, the reward base and the NL2SQL base at a folder."""
    env = {**os.environ, **({"ASASQL_HOME": str(home)} if home else {})}
    if models is not None:
        env |= {"ASASQL_CHAT_MODEL": str(models), "ASASQL_REWARD_BASE": str(models), "ASASQL_NL2SQL_BASE": str(models)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([ASASQL, *args], capture_output=True, text=True, env=env, timeout=600)


def test_validate_ok_and_broken(tmp_path: Path) -> None:
    ok = _asasql("validate", str(write_domain(tmp_path / "ok")))
    assert ok.returncode == 0, ok.stderr
    assert "3 tables" in ok.stdout
    spec = DomainSpec()
    spec.sheets["schema"][3][5] = '["a", "b"'
    broken = _asasql("validate", str(write_domain(tmp_path / "broken", spec)))
    assert broken.returncode == 2
    assert "description_full.xlsx [schema] row 4, column possible_value" in broken.stderr
    spec.sheets["schema"][5][3] = ""  # an empty description is only a warning
    both = _asasql("validate", str(write_domain(tmp_path / "both", spec)))
    lines = both.stderr.splitlines()
    assert both.returncode == 2 and lines[-1].endswith(": 1 error(s), 1 warning(s)"), both.stderr
    assert any(line.startswith("warning: description_full.xlsx [schema] row 6") for line in lines), both.stderr
    assert not any("error: warning" in line for line in lines)


def test_run_then_sql_prints_the_catalog(tmp_path: Path, tiny_model: Path) -> None:
    domain = write_domain(tmp_path / "shop")
    home = tmp_path / "home"
    run = _asasql("run", "--domain", str(domain), "--home", str(home), "--rounds", "0", models=tiny_model)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "schema_catalog" in run.stdout and "reward_model[round_0]" in run.stdout
    assert "stopped: ran the 0 round(s) asked for (--rounds 0); then Stage 3 ran" in run.stdout
    assert "nl2sql_model " in run.stdout and "fine_tuned" in run.stdout and "execution accuracy" in run.stdout
    assert "== Stage 1, synthesis" in run.stdout and "== Stage 2, active learning, round_0" in run.stdout
    question = load_domain(domain).samples.filter("label").sort("sample_id")["origin_query"][0]
    assert f'asasql predict "{question}" --execute' in run.stdout
    assert (home / "dagster" / "dagster.yaml").exists()
    count = _asasql("sql", "select count(*) as n from schema_catalog", home=home)
    assert count.returncode == 0, count.stderr
    csv = _asasql("sql", "--format", "csv", "select table_name from schema_catalog order by 1 limit 1", home=home)
    assert csv.stdout.splitlines() == ["table_name", "customers"]
    bad = _asasql("sql", "select * from no_such_view", home=home)
    assert bad.returncode == 1 and "no_such_view" in bad.stderr


def test_a_second_run_on_the_same_home_is_refused(tmp_path: Path) -> None:
    home = Home(tmp_path)
    with exclusive_run(home):
        with pytest.raises(RunInProgress, match=f"pid {os.getpid()}"):
            with exclusive_run(home):
                pass
    with exclusive_run(home):
        pass


def test_round_new_adds_rounds_in_order_and_annotate_refuses_what_is_not_there(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert [_asasql("round", "new", "--home", str(home)).stdout.strip() for _ in range(2)] == ["round_0", "round_1"]
    missing = _asasql("annotate", "export", "round_1", "--home", str(home))
    assert missing.returncode == 2 and "clusters[round_1] is not materialized" in missing.stderr
    malformed = _asasql("annotate", "export", "round-1", "--home", str(home))
    assert malformed.returncode == 2 and "rounds are named round_0, round_1" in malformed.stderr
    not_labeled = _asasql("annotate", "import", "round_0", "--home", str(home))
    assert not_labeled.returncode == 2 and "clusters[round_0] is not materialized" in not_labeled.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ASASQL_CHAT_CONCURRENCY": "many"}, "ASASQL_CHAT_CONCURRENCY='many': expected a whole number"),
        ({"ASASQL_REWARD_DEVICE": "gpu"}, "ASASQL_REWARD_DEVICE='gpu': not a torch device"),
    ],
)
def test_a_bad_setting_stops_the_run_before_it_starts(tmp_path: Path, env: dict[str, str], message: str) -> None:
    domain = write_domain(tmp_path / "shop")
    bad = subprocess.run(
        [ASASQL, "run", "--domain", str(domain), "--home", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        env=os.environ | env,
        timeout=300,
    )
    assert bad.returncode == 2, bad.stderr
    assert message in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "home" / "parquet").exists()


def test_serve_refuses_a_device_it_cannot_use() -> None:
    bad = _asasql("serve", "--device", "gpu", "--port", "0")
    assert bad.returncode == 2 and "error: --device='gpu': not a torch device" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr


def test_reference_without_a_gold_bank_is_refused_before_stage1(tmp_path: Path) -> None:
    domain = write_domain(tmp_path / "shop")
    (domain / "gold_bank.json").unlink()
    home = tmp_path / "home"
    refused = _asasql("run", "--domain", str(domain), "--home", str(home), "--annotator", "reference")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--annotator reference labels by execution match against gold_bank.json" in refused.stderr
    assert "use --annotator none" in refused.stderr and "Stage 1" not in refused.stdout
    assert not (home / "parquet").exists(), "nothing ran"
    checked = _asasql("validate", str(domain), "--annotator", "reference")
    assert checked.returncode == 2 and "gold_bank.json" in checked.stderr
    plain = _asasql("validate", str(domain))
    assert plain.returncode == 0 and "annotators it can run with: workbook, judge, none" in plain.stdout


def test_annotator_none_scores_and_selects_then_fine_tunes_without_labels(tmp_path: Path, tiny_model: Path) -> None:
    domain = write_domain(tmp_path / "shop")
    (domain / "gold_bank.json").unlink()
    home = tmp_path / "home"
    args = ("run", "--domain", str(domain), "--home", str(home), "--rounds", "2", "--annotator", "none")
    run = _asasql(*args, models=tiny_model)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # round_0 scores and selects (the tiny model's pool may leave nothing selectable), then Stage 3 runs
    assert "stopped: round_0: " in run.stdout and "then Stage 3 ran" in run.stdout
    assert (home / "parquet" / "clusters" / "round_0.parquet").exists()
    assert not (home / "parquet" / "labeled_rounds").exists(), "no round asks for labels"
    sources = _asasql("sql", "--format", "csv", "select distinct source from filtered_dataset order by 1", home=home)
    assert sources.returncode == 0 and "labeled" not in sources.stdout.splitlines()[1:]
