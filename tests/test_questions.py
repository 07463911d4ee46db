"""The plain functions behind forward_queries: prompts, answer parsing, column mentions and dedup."""

import hashlib
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from asasql_assets.synthesis.questions import (
    DROP_REASONS,
    STRATEGIES,
    QuestionPrompt,
    build_question_prompts,
    dedup_questions,
    involved_columns,
    parse_questions,
    question_id,
)
from asasql_resources.domain import Domain, load_domain
from asasql_resources.domain.leaks import normalise_question

DEMO = Path(__file__).resolve().parent.parent / "project_data"
PER_TABLE = 6
PER_PROMPT = 5


@pytest.fixture(scope="module")
def demo() -> Domain:
    """The bundled demo domain."""
    return load_domain(DEMO)


@pytest.fixture(scope="module")
def demo_prompts(demo: Domain) -> list[QuestionPrompt]:
    """Six English prompts per demo table, seed 7."""
    return _prompts(demo, demo.catalog, seed=7)


def _prompts(domain: Domain, catalog: pl.DataFrame, *, seed: int, language: str = "en") -> list[QuestionPrompt]:
    """build_question_prompts on a domain's concepts and samples with the test's sizes."""
    return build_question_prompts(
        catalog,
        domain.concepts,
        domain.samples,
        prompts_per_table=PER_TABLE,
        questions_per_prompt=PER_PROMPT,
        seed=seed,
        language=language,
    )


def _hashes_by_table(prompts: list[QuestionPrompt]) -> dict[str, list[str]]:
    """Each table's prompt hashes, in order."""
    grouped: dict[str, list[str]] = {}
    for prompt in prompts:
        grouped.setdefault(prompt.table_name, []).append(prompt.prompt_hash)
    return grouped


def test_one_prompt_set_per_table_cycling_the_strategies(demo: Domain, demo_prompts: list[QuestionPrompt]) -> None:
    tables = sorted(demo.catalog["table_name"].unique().to_list())
    assert len(demo_prompts) == len(tables) * PER_TABLE
    assert [prompt.table_name for prompt in demo_prompts] == [table for table in tables for _ in range(PER_TABLE)]
    assert [prompt.strategy for prompt in demo_prompts[:PER_TABLE]] == list(STRATEGIES) * 2
    assert {prompt.strategy for prompt in demo_prompts} == set(STRATEGIES)


def test_offered_columns_belong_to_the_table(demo: Domain, demo_prompts: list[QuestionPrompt]) -> None:
    for prompt in demo_prompts:
        table_columns = set(demo.catalog.filter(pl.col("table_name") == prompt.table_name)["column_name"])
        assert prompt.columns and set(prompt.columns) <= table_columns
        assert len(set(prompt.columns)) == len(prompt.columns)
        assert all(f"- {column} (" in prompt.prompt.user for column in prompt.columns)


def test_strategies_pick_the_columns_they_promise(demo_prompts: list[QuestionPrompt]) -> None:
    measures = {
        "hosts": {"cpu_cores", "memory_gb"},
        "volumes": {"size_gb", "iops"},
        "quotas": {"quota_limit", "used_amount"},
    }
    for prompt in demo_prompts:
        if prompt.strategy == "aggregate" and prompt.table_name in measures:
            assert prompt.columns[0] in measures[prompt.table_name]
        if prompt.strategy == "single_filter" and prompt.table_name == "hosts":
            assert prompt.columns[1] == "hostname" and prompt.columns[0] != "hostname"
        assert len(prompt.columns) == 2


def test_prompts_are_deterministic_and_hashed(demo: Domain, demo_prompts: list[QuestionPrompt]) -> None:
    assert _prompts(demo, demo.catalog, seed=7) == demo_prompts
    assert _prompts(demo, demo.catalog, seed=8) != demo_prompts
    for prompt in demo_prompts:
        assert prompt.prompt_hash == hashlib.sha256(prompt.prompt.canonical().encode()).hexdigest()[:16]
    assert len({prompt.prompt_hash for prompt in demo_prompts}) > len(demo_prompts) // 2


def test_changing_one_table_changes_only_its_prompts(demo: Domain, demo_prompts: list[QuestionPrompt]) -> None:
    edited = demo.catalog.with_columns(
        pl.when(pl.col("table_name") == "hosts")
        .then(pl.lit("One row per bare-metal server in a rack."))
        .otherwise(pl.col("table_description"))
        .alias("table_description")
    )
    before, after = _hashes_by_table(demo_prompts), _hashes_by_table(_prompts(demo, edited, seed=7))
    assert [table for table in before if before[table] != after[table]] == ["hosts"]
    assert all(old != new for old, new in zip(before["hosts"], after["hosts"], strict=True))


def test_prompts_stay_short(demo: Domain, demo_prompts: list[QuestionPrompt]) -> None:
    for prompt in demo_prompts + _prompts(demo, demo.catalog, seed=7, language="zh"):
        words = len(f"{prompt.prompt.system} {prompt.prompt.user}".split())
        assert words < 260, (prompt.table_name, words)


def test_prompt_carries_table_concepts_columns_and_instruction(demo_prompts: list[QuestionPrompt]) -> None:
    prompt = next(p for p in demo_prompts if p.table_name == "hosts" and "hypervisor" in p.columns)
    user = prompt.prompt.user
    assert user.startswith("Table: hosts\nAbout: One row per physical host")
    assert "- hypervisor (虚拟化类型): Virtualization stack running on the host. Values: KVM, Xen, Firecracker" in user
    assert "- hypervisor: The virtualization stack" in user and "billing cycle" not in user
    assert "Write exactly 5 new, different questions" in user and "No SQL, no explanations." in user
    assert prompt.prompt.examples == ()
    for table_prompt in demo_prompts:
        terms = table_prompt.prompt.user.split("Terms:\n")[-1].split("Columns:")[0]
        assert terms.count("\n- ") + terms.startswith("- ") <= 5


def test_examples_are_positive_samples_of_the_same_table(demo: Domain, demo_prompts: list[QuestionPrompt]) -> None:
    samples = demo.samples
    own = set(samples.filter(pl.col("label") & (pl.col("table_name") == "hosts"))["origin_query"])
    negatives = set(samples.filter(~pl.col("label"))["origin_query"])
    for prompt in (p for p in demo_prompts if p.table_name == "hosts"):
        shown = re.findall(r'"([^"]+)"', prompt.prompt.user.split("Style examples (do not repeat):")[1].split("\n")[0])
        assert 1 <= len(shown) <= 2 and set(shown) <= own and not set(shown) & negatives


def test_chinese_prompts_ask_for_chinese_questions(demo: Domain) -> None:
    prompts = _prompts(demo, demo.catalog, seed=7, language="zh")
    assert len(prompts) == len(demo.catalog["table_name"].unique()) * PER_TABLE
    for prompt in prompts:
        assert prompt.prompt.user.startswith(f"表：{prompt.table_name}\n")
        assert f"请写出恰好{PER_PROMPT}个" in prompt.prompt.user and "只写中文问题" in prompt.prompt.user
        assert "Write exactly" not in prompt.prompt.user and prompt.prompt.system.startswith("你为SQL数据库")
    with pytest.raises(ValueError, match="language"):
        _prompts(demo, demo.catalog, seed=7, language="fr")


def _catalog(rows: list[tuple[str, str, str | None, list[str] | None]]) -> pl.DataFrame:
    """A catalog frame from (table, column, data_type, possible_values) rows."""
    return pl.DataFrame(
        {
            "table_name": [row[0] for row in rows],
            "column_name": [row[1] for row in rows],
            "column_name_zh": ["" for _ in rows],
            "description": [f"The {row[1]}." for row in rows],
            "reason": ["" for _ in rows],
            "possible_values": [row[3] for row in rows],
            "data_type": [row[2] for row in rows],
            "table_description": [f"One row per {row[0]}." for row in rows],
        },
        schema_overrides={"possible_values": pl.List(pl.String), "data_type": pl.String},
    )


def test_strategies_fall_back_on_thin_tables() -> None:
    catalog = _catalog(
        [
            ("notes", "note", "VARCHAR", None),
            ("events", "event_id", "BIGINT", ["1", "2"]),
            ("events", "kind", "VARCHAR", ["deploy", "rollback"]),
            ("events", "happened_on", "DATE", ["2026-01-01"]),
            ("metrics", "metric_id", None, None),
            ("metrics", "reading", None, ["1.5", "2", "-3e2"]),
        ]
    )
    concepts = pl.DataFrame(schema={"entity": pl.String, "description": pl.String})
    samples = pl.DataFrame(
        schema={"sample_id": pl.Int64, "origin_query": pl.String, "table_name": pl.String, "label": pl.Boolean}
    )
    prompts = build_question_prompts(catalog, concepts, samples, prompts_per_table=3, questions_per_prompt=2, seed=0)
    by_key = {(prompt.table_name, prompt.strategy): prompt.columns for prompt in prompts}
    assert {by_key[("notes", strategy)] for strategy in STRATEGIES} == {("note",)}
    assert by_key[("events", "single_filter")] == ("kind", "event_id")
    assert by_key[("events", "aggregate")][0] in {"kind", "happened_on"}
    assert by_key[("metrics", "aggregate")] == ("reading", "metric_id")
    assert sorted(by_key[("metrics", "column_pair")]) == ["metric_id", "reading"]
    assert all("Style examples" not in p.prompt.user and "Terms:" not in p.prompt.user for p in prompts)
    assert {p.prompt.system for p in prompts} == {"You write the questions that users of a SQL database ask."}
    about = "A plant's sensor readings and maintenance notes. " * 10
    described = build_question_prompts(
        catalog, concepts, samples, prompts_per_table=1, questions_per_prompt=2, seed=0, about=about
    )
    system = described[0].prompt.system or ""
    assert system.startswith("You write the questions that users of a SQL database ask. The database: A plant's")
    assert system.endswith("…") and len(system) < 300


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("", []),
        ("Sure! Here are 3 questions about the hosts table:\n\nI hope these help!", []),
        ("```sql\nSELECT count(*) FROM hosts WHERE status = 'offline';\n```", []),
        ("SELECT hostname FROM hosts\nWITH x AS (SELECT 1) SELECT * FROM x", []),
        ("Would you like more questions?\nThe hosts table has many useful columns.", []),
        (
            "1. How many hosts are offline?\n2) Which hosts run KVM?\n(3) List the hosts in us-east-1a.\n"
            "Q4: What is the total memory of online hosts?",
            [
                "How many hosts are offline?",
                "Which hosts run KVM?",
                "List the hosts in us-east-1a.",
                "What is the total memory of online hosts?",
            ],
        ),
        (
            "- Which zones are impaired?\n* How many regions are active?\n• Show all tenants on the enterprise plan.",
            ["Which zones are impaired?", "How many regions are active?", "Show all tenants on the enterprise plan."],
        ),
        (
            '1. **How many invoices are overdue?**\n2. "Which tenants pay yearly?"\n- 3. “Count the open alarms.”',
            ["How many invoices are overdue?", "Which tenants pay yearly?", "Count the open alarms."],
        ),
        (
            "Here are five questions:\n1. How many hosts are offline?\nThese questions cover the status column.",
            ["How many hosts are offline?"],
        ),
        (
            "1. Which hosts are offline?\n   SQL: SELECT hostname FROM hosts WHERE status = 'offline'\n"
            "2. Which instances SELECT data FROM the archive?",
            ["Which hosts are offline?"],
        ),
        (
            "1. 哪些主机处于离线状态？\n2、有多少个区域处于预览状态？\n（3）列出所有使用KVM的主机\n以下是问题：",
            ["哪些主机处于离线状态？", "有多少个区域处于预览状态？", "列出所有使用KVM的主机"],
        ),
        (
            "1. How many hosts are offline?\n2. how many  hosts are offline\n3. How many hosts are offline?",
            ["How many hosts are offline?"],
        ),
        ("1. Hosts?\n2. Why?\n3. Count offline hosts\n4. 主机？", ["Count offline hosts"]),
        (
            "1. How many hosts are offline? 2. Which zones are impaired? 3) Show disputed invoices?",
            ["How many hosts are offline?", "Which zones are impaired?", "Show disputed invoices?"],
        ),
        (
            "### Questions:\n**Status questions:**\n1. Which volumes are in error state?\n"
            "2. Which tenants are unverified? (uses is_verified)\nQuestion 3: Show the invoices that are disputed.",
            [
                "Which volumes are in error state?",
                "Which tenants are unverified?",
                "Show the invoices that are disputed.",
            ],
        ),
        ("Total vCPUs per flavor for running instances?", ["Total vCPUs per flavor for running instances?"]),
        (
            'Question to ask: "Which hosts run Xen?"\nWhich alarms have message: "Disk nearly full"?',
            ["Which hosts run Xen?", 'Which alarms have message: "Disk nearly full"?'],
        ),
    ],
)
def test_parse_questions(answer: str, expected: list[str]) -> None:
    assert parse_questions(answer) == expected


@pytest.fixture(scope="module")
def hosts_rows() -> pl.DataFrame:
    """Catalog rows of a hosts-like table with Chinese names and possible values."""
    return pl.DataFrame(
        {
            "column_name": ["hypervisor", "status", "zone_id", "memory_gb", "hostname"],
            "column_name_zh": ["虚拟化类型", "主机状态", "可用区ID", "内存（GB）", "主机名"],
            "possible_values": [
                ["KVM", "Xen", "Firecracker"],
                ["on", "online", "offline", "maintenance"],
                ["us-east-1", "eu-west-1"],
                ["512", "1024"],
                None,
            ],
        }
    )


@pytest.mark.parametrize(
    ("question", "offered", "expected"),
    [
        ("How many hosts are offline?", ("status", "hostname"), ["status"]),
        ("List the hostname of every kvm host", ("hostname", "hypervisor"), ["hostname", "hypervisor"]),
        ("Which hypervisors are used the most?", ("hypervisor",), ["hypervisor"]),
        ("What is the total memory gb in zone us-east-1?", ("memory_gb", "zone_id"), ["memory_gb", "zone_id"]),
        ("Which hosts sit in us-east-1a?", ("zone_id",), []),
        ("Which hosts are switched on right now?", ("status",), []),
        ("哪些主机的虚拟化类型是Xen？", ("status", "hypervisor"), ["hypervisor"]),
        ("主机状态为维护的主机有几台？", ("status", "zone_id"), ["status"]),
        ("Which hosts have 1024 of memory?", ("memory_gb",), ["memory_gb"]),
        ("How many servers are there?", ("hypervisor", "status", "zone_id"), []),
    ],
)
def test_involved_columns(
    question: str, offered: tuple[str, ...], expected: list[str], hosts_rows: pl.DataFrame
) -> None:
    assert involved_columns(question, offered, hosts_rows) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  How many   Hosts are OFFLINE?  ", "how many hosts are offline"),
        ("列出所有主机。", "列出所有主机"),
        ("Which zones?!", "which zones"),
        ("", ""),
    ],
)
def test_normalise_question(text: str, expected: str) -> None:
    assert normalise_question(text) == expected


def test_question_id_is_stable_per_table_and_normalised_text() -> None:
    assert question_id("hosts", "How many hosts?") == question_id("hosts", "how many  hosts")
    assert question_id("hosts", "How many hosts?") != question_id("zones", "How many hosts?")
    assert re.fullmatch(r"[0-9a-f]{16}", question_id("hosts", "How many hosts?"))


def test_dedup_counts_every_drop_reason() -> None:
    frame = pl.DataFrame(
        {
            "table_name": ["hosts", "hosts", "hosts", "tenants", "instances", "hosts", "zones", "regions", "hosts"],
            "question": [
                "How many hosts are offline?",
                "   ",
                "how many hosts are  offline",
                "Which tenants pay yearly?",
                "List the terminated instances.",
                "How many hosts are offline right now?",
                "Which zones are impaired?",
                "How many zones are impaired?",
                None,
            ],
        }
    )
    vectors = np.array(
        [[1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 1, 1], [1, 1, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0.98, 0.2], [0, 0, 0]],
        dtype=np.float32,
    )
    kept, counts = dedup_questions(
        frame,
        vectors,
        0.95,
        sample_questions=["Which tenants pay yearly"],
        test_questions=["List the terminated instances"],
    )
    assert kept["question"].to_list() == ["How many hosts are offline?", "Which zones are impaired?"]
    assert counts == {
        "empty": 2,
        "exact_duplicate": 1,
        "copies_sample": 1,
        "test_leak": 1,
        "near_duplicate": 2,
    }
    assert tuple(counts) == DROP_REASONS


def test_dedup_threshold_and_edge_cases() -> None:
    frame = pl.DataFrame({"question": ["Which hosts are offline?", "Which hosts are down?"]})
    vectors = np.array([[1.0, 0.0], [0.9, 0.1]], dtype=np.float32)
    kept, counts = dedup_questions(frame, vectors, 1.0, sample_questions=[], test_questions=[])
    assert kept.height == 2 and sum(counts.values()) == 0
    kept, counts = dedup_questions(
        frame, vectors, 0.9, sample_questions=["which hosts are offline"], test_questions=["Which hosts are down"]
    )
    assert kept.height == 0 and counts["copies_sample"] == 1 and counts["test_leak"] == 1
    assert counts["near_duplicate"] == 0
    with pytest.raises(ValueError, match="aligned"):
        dedup_questions(frame, vectors[:1], 0.9, sample_questions=[], test_questions=[])


def test_hash_numbering_is_stripped() -> None:
    text = "#1: What was the average time to resolve critical alarms?\n#2. Which hosts are offline?"
    assert parse_questions(text) == [
        "What was the average time to resolve critical alarms?",
        "Which hosts are offline?",
    ]
