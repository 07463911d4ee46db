"""Stage 1 through Dagster: incremental with the tiny model, and end to end with the bundled SmolLM2."""

from pathlib import Path

import dagster as dg
import pytest

from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.synthesis.assets import extracted_columns, forward_queries, nl2sql_candidates
from asasql_assets.synthesis.checks import candidates_belong_to_questions, execution_rate, no_test_set_leak
from asasql_assets.synthesis.questions import build_question_prompts
from asasql_resources.domain import load_domain
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.embedder import Embedder
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import Home, WarehouseIOManager, connect_readonly
from tests.domain_factory import DomainSpec, write_domain

STAGE1 = [schema_catalog, forward_queries, nl2sql_candidates, extracted_columns]
CHECKS = [no_test_set_leak, candidates_belong_to_questions, execution_rate]
SMALL_RUN = {
    "ops": {
        "forward_queries": {"config": {"prompts_per_table": 2, "questions_per_prompt": 3, "max_new_tokens": 48}},
        "nl2sql_candidates": {"config": {"k": 2, "max_new_tokens": 48}},
    }
}


def _resources(domain: Path, home: Path, chat: ChatModel) -> dict[str, object]:
    return {
        "io_manager": WarehouseIOManager(home=str(home)),
        "domain": DomainResource(path=str(domain)),
        "chat": chat,
        "embedder": Embedder(),
        "sandbox": SqlSandbox(),
    }


def _run(domain: Path, home: Path, chat: ChatModel) -> dg.ExecuteInProcessResult:
    return dg.materialize(STAGE1 + CHECKS, resources=_resources(domain, home, chat), run_config=SMALL_RUN)


def test_rematerializing_makes_no_model_call_and_a_changed_table_regenerates_alone(
    tiny_model: Path, tmp_path: Path
) -> None:
    domain, home = write_domain(tmp_path / "shop"), tmp_path / "home"
    chat = ChatModel(model=str(tiny_model), home=str(home), dtype="float32")
    stats = chat.client().stats

    def questions_run() -> None:
        config = {"ops": {"forward_queries": SMALL_RUN["ops"]["forward_queries"]}}
        result = dg.materialize(
            [schema_catalog, forward_queries], resources=_resources(domain, home, chat), run_config=config
        )
        assert result.success

    def unique_prompts() -> dict[str, set[str]]:
        loaded = load_domain(domain)
        prompts = build_question_prompts(
            loaded.catalog, loaded.concepts, loaded.samples, prompts_per_table=2, questions_per_prompt=3, seed=0
        )
        by_table: dict[str, set[str]] = {}
        for prompt in prompts:
            by_table.setdefault(prompt.table_name, set()).add(prompt.prompt_hash)
        return by_table

    start = stats.prompts
    questions_run()
    cold = stats.prompts
    before = unique_prompts()
    assert cold - start == sum(map(len, before.values())) and set(before) == {"orders", "customers", "products"}
    questions_run()
    assert stats.prompts == cold, "nothing changed: every call came from the cache"
    spec = DomainSpec()
    spec.sheets["meta"][1][1] = "One row per order, with its payment status"
    write_domain(domain, spec)
    after = unique_prompts()
    changed = {table for table in after if after[table] != before[table]}
    assert changed == {"orders"}
    questions_run()
    assert stats.prompts == cold + len(after["orders"]), "only the changed table's prompts were generated again"


@pytest.mark.bundled_model
def test_stage1_with_the_bundled_models(tmp_path: Path) -> None:
    # English: the 135M SmolLM2 writes no parseable Chinese questions (the factory's shop domain is zh)
    spec = DomainSpec(config=DomainSpec().config.replace("language: zh", "language: en"))
    domain, home = write_domain(tmp_path / "shop", spec), tmp_path / "home"
    result = dg.materialize(
        STAGE1 + CHECKS,
        resources=_resources(domain, home, ChatModel(model="smollm2", home=str(home), dtype="float32")),
        run_config=SMALL_RUN,
    )
    assert result.success
    con = connect_readonly(Home(home))
    try:
        questions = con.execute("select count(*) from forward_queries").fetchone()[0]
        candidates, parsed = con.execute("select count(*), sum(parse_ok::int) from extracted_columns").fetchone()
        from_gold = con.execute(
            "select count(*) from nl2sql_candidates c anti join forward_queries q using (question_id)"
        ).fetchone()[0]
    finally:
        con.close()
    gold_questions = load_domain(domain).gold_bank.height
    assert questions > 0 and candidates == 2 * (questions + gold_questions) and from_gold == 2 * gold_questions
    assert parsed > 0
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["no_test_set_leak"] and checks["candidates_belong_to_questions"]
