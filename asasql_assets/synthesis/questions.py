"""Plain functions behind forward_queries: question prompts, answer parsing, column mentions and dedup."""

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from asasql_resources.domain.leaks import normalise_question
from asasql_resources.models.prompts import ChatPrompt
from asasql_resources.vectors.dedup import keep_mask

STRATEGIES = ("single_filter", "column_pair", "aggregate")
DROP_REASONS = ("empty", "exact_duplicate", "copies_sample", "test_leak", "near_duplicate")
MAX_CONCEPTS = 5
MAX_VALUES = 8
MAX_EXAMPLES = 2
# Character caps that keep a prompt under about 350 tokens: a 135M model has a small useful context.
TABLE_DESCRIPTION_CHARS = 160
DOMAIN_DESCRIPTION_CHARS = 200
COLUMN_DESCRIPTION_CHARS = 80
CONCEPT_DESCRIPTION_CHARS = 60
VALUE_CHARS = 30
VALUE_LIST_CHARS = 70
PROMPT_TOKEN_BUDGET = 290

_NUMERIC_TYPE = re.compile(
    r"^\s*(?:U?(?:TINY|SMALL|BIG|HUGE)?INT(?:EGER|\d+)?|FLOAT\d*|REAL|DOUBLE|DECIMAL|NUMERIC|NUMBER)\b", re.IGNORECASE
)
_TEMPORAL_TYPE = re.compile(r"^\s*(?:DATE|TIME|TIMESTAMP|DATETIME|INTERVAL)", re.IGNORECASE)
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_ID_COLUMN = re.compile(r"(?:^|_)id$", re.IGNORECASE)
_WORD = re.compile(r"[a-z]{4,}")
_STOPWORDS = frozenset(
    "also that this with from each when their them they then than there which where what into only about "
    "more most some such used uses like have been were will would every other first last table column "
    "value values means called".split()
)
_TOKENISH = re.compile(r"[A-Za-z]+|\d|[^\sA-Za-z\d]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")

_SYSTEM = {
    "en": "You write the questions that users of a SQL database ask.",
    "zh": "你为SQL数据库编写用户会问的问题。",
}
_DATABASE = {"en": " The database: {about}", "zh": "数据库：{about}"}
_LABELS = {
    "en": {"table": "Table: ", "about": "About: ", "terms": "Terms:", "columns": "Columns:", "values": "Values: "},
    "zh": {"table": "表：", "about": "说明：", "terms": "相关术语：", "columns": "字段：", "values": "取值："},
}
_TASK = {
    "en": (
        "{examples}Write exactly {n} new, different questions a user of this database would ask about the columns above, "
        "answerable with SQL on the {table} table.\n"
        "Reply with the questions only, one per line, numbered 1 to {n}. No SQL, no explanations."
    ),
    "zh": (
        "{examples}请写出恰好{n}个用户会问的新的不同问题，关于上面的字段，都能用SQL在{table}表上回答。\n"
        "只写中文问题，每行一个，编号1到{n}，不写SQL，不解释。"
    ),
}
_EXAMPLES = {"en": "Style examples (do not repeat): {quoted}\n", "zh": "风格示例（不要重复）：{quoted}\n"}
_QUOTE = {"en": '"{}"', "zh": "“{}”"}

# Parsing: prefixes and line kinds of a model's answer.
_INLINE_ITEM = re.compile(r"(?<=[?？])\s*(?=(?:\d{1,2}[.)、]|\(\d{1,2}\)|Q\d{1,2}[:.)])\s*\S)")
_BULLET = re.compile(r"^[-*•·–]\s+")
_NUMBERING = re.compile(
    r"^(?:[(（]\d{1,3}[)）]|\d{1,3}\s*[.)、:：．）](?!\d)|\d{1,3}\s+[-–]\s"
    r"|#\s*\d{1,3}\s*[:.)：]|(?:Q|Question|问题)\s*\d{0,3}\s*[:.)：]|第\s*\d{1,3}\s*个?\s*[:：])\s*",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^#+\s*")
_LABELLED_QUOTE = re.compile(r"^(\S[^\"“:：]{0,59})[:：]\s*[\"“](.+)$")
_EMPHASIS = re.compile(r"\*\*|__")
_QUOTES = "\"'“”‘’「」『』`*_ \t"
_SQL_START = re.compile(r"^(?:SELECT|WITH|FROM|WHERE|GROUP BY|ORDER BY)\b|^(?i:sql\s*[:：]|select\s+\S.*\bfrom\s+\w)")
_SQL_INSIDE = re.compile(r"\bSELECT\b.*\bFROM\b")
_ASKING_WORDS = frozenset(
    "what what's which who whom whose when where why how how's list show find count give get display return "
    "identify name tell calculate compute determine retrieve provide is are was were do does did can has have "
    "sum".split()
)
_ASKING_CJK = re.compile(r"哪|多少|什么|几|谁|是否|列出|查询|显示|统计|找出|给出|计算|请|有没有")
_CHATTER = re.compile(
    r"^(?:would you like|do you want|shall i|should i|can i|may i|is there anything|anything else|let me know)\b",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class QuestionPrompt:
    """One question-writing prompt for a table: the strategy, the columns it offers, and the chat prompt."""

    table_name: str
    strategy: str
    columns: tuple[str, ...]
    prompt: ChatPrompt
    prompt_hash: str


def build_question_prompts(
    catalog: pl.DataFrame,
    concepts: pl.DataFrame,
    samples: pl.DataFrame,
    *,
    prompts_per_table: int,
    questions_per_prompt: int,
    seed: int,
    language: str = "en",
    about: str = "",
) -> list[QuestionPrompt]:
    """For each table (sorted), prompts_per_table prompts cycling through STRATEGIES, seeded per table and index.

    `about` describes the whole database (domain.yaml's description) in the system turn.
    """
    if language not in _TASK:
        raise ValueError(f"language must be one of {sorted(_TASK)}, got {language!r}")
    if questions_per_prompt < 1:
        raise ValueError(f"questions_per_prompt must be at least 1, got {questions_per_prompt}")
    concept_rows = list(concepts.select("entity", "description").iter_rows())
    positives = (
        samples.filter(pl.col("label") & (pl.col("origin_query").str.strip_chars() != ""))
        .sort("sample_id")
        .select("origin_query", "table_name")
    )
    system = _SYSTEM[language]
    if about.strip():
        system += _DATABASE[language].format(about=_shorten(about, DOMAIN_DESCRIPTION_CHARS))
    prompts = []
    for table in sorted(catalog["table_name"].unique().to_list()):
        rows = catalog.filter(pl.col("table_name") == table).to_dicts()
        examples = _example_pool(positives, table)
        for index in range(prompts_per_table):
            rng = random.Random(f"{seed}:{table}:{index}")
            strategy = STRATEGIES[index % len(STRATEGIES)]
            columns = _choose_columns(rows, strategy, rng)
            chosen = rng.sample(examples, min(MAX_EXAMPLES, len(examples)))
            prompt = _render(table, rows, columns, concept_rows, chosen, questions_per_prompt, language, system)
            digest = hashlib.sha256(prompt.canonical().encode("utf-8")).hexdigest()[:16]
            prompts.append(QuestionPrompt(table, strategy, columns, prompt, digest))
    return prompts


def parse_questions(text: str) -> list[str]:
    """The questions in a model's answer, in order, without numbering, chatter, SQL or exact duplicates."""
    questions: list[str] = []
    seen: set[str] = set()
    in_fence = False
    for raw in text.splitlines():
        if raw.strip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for piece in _INLINE_ITEM.split(raw):
            question = _clean_line(piece)
            key = normalise_question(question)
            if question and _looks_like_question(question) and key not in seen:
                seen.add(key)
                questions.append(question)
    return questions


def involved_columns(question: str, offered: Sequence[str], catalog_rows: pl.DataFrame) -> list[str]:
    """The offered columns the question mentions by name, Chinese name, or one of their possible values."""
    lowered = question.lower()
    mentioned = []
    for column in offered:
        rows = catalog_rows.filter(pl.col("column_name") == column).to_dicts()
        names = [column, column.replace("_", " ")]
        zh_names = [row["column_name_zh"] for row in rows if row.get("column_name_zh")]
        values = [value for row in rows for value in (row.get("possible_values") or []) if len(value.strip()) >= 3]
        if (
            any(_mentions(lowered, name.lower(), plural=True) for name in names)
            or any(name.lower() in lowered for name in zh_names)
            or any(_mentions(lowered, value.strip().lower(), plural=False) for value in values)
        ):
            mentioned.append(column)
    return mentioned


def dedup_questions(
    frame: pl.DataFrame,
    vectors: np.ndarray,
    threshold: float,
    *,
    sample_questions: Iterable[str],
    test_questions: Iterable[str],
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Drop empty, exactly duplicated, sample-copying, test-leaking, then near-duplicate questions; count each."""
    if len(vectors) != frame.height:
        raise ValueError(f"{len(vectors)} vectors for {frame.height} questions; they must be aligned row by row")
    samples = {normalise_question(question) for question in sample_questions}
    tests = {normalise_question(question) for question in test_questions}
    counts = dict.fromkeys(DROP_REASONS, 0)
    seen: set[str] = set()
    candidates: list[int] = []
    for row, question in enumerate(frame["question"].to_list()):
        key = normalise_question(question or "")
        reason = (
            "empty"
            if not key
            else "exact_duplicate"
            if key in seen
            else "copies_sample"
            if key in samples
            else "test_leak"
            if key in tests
            else None
        )
        seen.add(key)
        if reason:
            counts[reason] += 1
        else:
            candidates.append(row)
    keep = np.zeros(frame.height, dtype=bool)
    if candidates:
        kept = keep_mask(np.asarray(vectors)[candidates], threshold)
        keep[np.asarray(candidates)[kept]] = True
        counts["near_duplicate"] = int((~kept).sum())
    return frame.filter(pl.Series(keep)), counts


def question_id(table_name: str, question: str) -> str:
    """A stable 16-hex id of (table, normalised question)."""
    return hashlib.sha256(f"{table_name}\x1f{normalise_question(question)}".encode()).hexdigest()[:16]


def _values(row: dict[str, Any]) -> list[str]:
    """A catalog row's possible values, as stripped non-empty strings."""
    return [value.strip() for value in (row.get("possible_values") or []) if value and value.strip()]


def _is_numeric(row: dict[str, Any]) -> bool:
    """A column of a numeric data type, or, without a data type, one whose possible values are all numbers."""
    data_type = (row.get("data_type") or "").strip()
    if data_type:
        return bool(_NUMERIC_TYPE.match(data_type))
    values = _values(row)
    return bool(values) and all(_NUMBER.match(value) for value in values)


def _is_temporal(row: dict[str, Any]) -> bool:
    """A date or time column, by data type or, without one, by ISO-date-like values."""
    data_type = (row.get("data_type") or "").strip()
    if data_type:
        return bool(_TEMPORAL_TYPE.match(data_type))
    values = _values(row)
    return bool(values) and all(_DATE_VALUE.match(value) for value in values)


def _is_id(name: str) -> bool:
    """Whether a column name is an identifier (id, or ending in _id)."""
    return bool(_ID_COLUMN.search(name))


def _key_column(table: str, names: list[str]) -> str:
    """The column naming a row of the table (e.g. hostname for hosts), else the table's first column."""
    singulars = {part[:-1] if part.endswith("s") else part for part in (table, table.split("_")[-1])}
    wanted = [f"{singular}{joiner}name" for singular in sorted(singulars) for joiner in ("_", "")] + ["name"]
    return next((name for name in wanted if name in names), names[0])


def _draw(rng: random.Random, pools: Sequence[Sequence[str]], taken: Sequence[str | None]) -> str | None:
    """A random column from the first pool that has one not yet taken, or None when every pool is used up."""
    for pool in pools:
        free = [name for name in pool if name not in taken]
        if free:
            return rng.choice(free)
    return None


def _choose_columns(rows: list[dict[str, Any]], strategy: str, rng: random.Random) -> tuple[str, ...]:
    """The columns a strategy offers, drawn from the table's rows; falls back to whatever columns exist.

    single_filter: a categorical column with possible values, plus the table's key or name column.
    column_pair: any two columns. aggregate: a numeric measure plus a categorical grouping column.
    Id columns are a last resort for measures and groups.
    """
    names = list(dict.fromkeys(row["column_name"] for row in rows))
    valued = [row["column_name"] for row in rows if _values(row)]
    categorical = [
        row["column_name"] for row in rows if _values(row) and not _is_numeric(row) and not _is_temporal(row)
    ]
    measures = [row["column_name"] for row in rows if _is_numeric(row) and not _is_id(row["column_name"])]
    groups = [[name for name in categorical if not _is_id(name)], categorical, valued, names]
    if strategy == "single_filter":
        key = _key_column(rows[0]["table_name"], names)
        picked = [_draw(rng, groups, [key]), key]
    elif strategy == "column_pair":
        first = _draw(rng, [names], [])
        picked = [first, _draw(rng, [names], [first])]
    elif strategy == "aggregate":
        measure = _draw(rng, [measures, [name for name in names if not _is_id(name)], names], [])
        picked = [measure, _draw(rng, groups, [measure])]
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    return tuple(name for name in picked if name is not None)


def _example_pool(positives: pl.DataFrame, table: str) -> list[str]:
    """Positive sample questions for the table: its own single-table ones, else ones that use it, else any."""
    own, using = [], []
    for question, tables in positives.iter_rows():
        parts = [part.strip() for part in (tables or "").split(",")]
        if parts == [table]:
            own.append(question)
        elif table in parts:
            using.append(question)
    return own or using or positives["origin_query"].to_list()


def _shorten(text: str | None, limit: int) -> str:
    """Whitespace-collapsed text cut at a word boundary to at most limit characters, with an ellipsis if cut."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(",;:") + "…"


def _words(text: str) -> set[str]:
    """Lowercase ASCII words of 4+ letters, minus stopwords, with a plural s dropped."""
    words = (word for word in _WORD.findall(text.lower().replace("_", " ")) if word not in _STOPWORDS)
    return {word[:-1] if word.endswith("s") and len(word) > 4 else word for word in words}


def _relevant_concepts(table: str, table_text: str, concept_rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """At most MAX_CONCEPTS concepts that the table text names, or that share a 4+ letter word with it, best first.

    A word shared through a concept's description alone counts only when it is a word of the table's name, so
    that a common word ("instance") does not pull in every concept that mentions it.
    """
    table_words, name_words, lowered = _words(table_text), _words(table), table_text.lower()
    scored = []
    for position, (entity, description) in enumerate(concept_rows):
        entity, description = (entity or "").strip(), description or ""
        named = len(entity) >= 2 and entity.lower() in lowered
        by_entity = len(_words(entity) & table_words)
        by_description = len(_words(description) & table_words)
        if named or by_entity or _words(description) & name_words:
            scored.append((-(3 * named + 2 * by_entity + by_description), position, entity, description))
    return [(entity, description) for _, _, entity, description in sorted(scored)[:MAX_CONCEPTS]]


def _render(
    table: str,
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    concept_rows: list[tuple[str, str]],
    examples: list[str],
    count: int,
    language: str,
    system: str,
) -> ChatPrompt:
    """The chat prompt asking for count questions about the offered columns of one table.

    Over PROMPT_TOKEN_BUDGET (estimated), the least relevant concepts go first, then all examples but one.
    """
    by_name = {row["column_name"]: row for row in rows}
    description = _shorten(rows[0].get("table_description"), TABLE_DESCRIPTION_CHARS)
    offered = [by_name[name] for name in columns]
    table_text = " ".join(
        [table, description] + [f"{row['column_name']} {row.get('column_name_zh') or ''}" for row in offered]
    )
    concepts = _relevant_concepts(table, table_text, concept_rows)
    examples = list(examples)
    while True:
        user = _user_message(table, description, concepts, offered, examples, count, language)
        if _estimated_tokens(system + "\n" + user) <= PROMPT_TOKEN_BUDGET or not (concepts or len(examples) > 1):
            return ChatPrompt(user=user, system=system)
        (concepts if concepts else examples).pop()


def _user_message(
    table: str,
    description: str,
    concepts: list[tuple[str, str]],
    offered: list[dict[str, Any]],
    examples: list[str],
    count: int,
    language: str,
) -> str:
    """The user message: table, description, concepts, offered columns, then the task with example questions."""
    labels = _LABELS[language]
    lines = [f"{labels['table']}{table}"]
    if description:
        lines.append(f"{labels['about']}{description}")
    if concepts:
        lines.append(labels["terms"])
        lines += [f"- {entity}: {_shorten(text, CONCEPT_DESCRIPTION_CHARS)}" for entity, text in concepts]
    lines.append(labels["columns"])
    lines += [_column_line(row, labels["values"]) for row in offered]
    quoted = " ".join(_QUOTE[language].format(" ".join(example.split())) for example in examples)
    example_text = _EXAMPLES[language].format(quoted=quoted) if examples else ""
    lines += ["", _TASK[language].format(n=count, table=table, examples=example_text)]
    return "\n".join(lines)


def _estimated_tokens(text: str) -> int:
    """A tokenizer-free token estimate: one per ASCII word, digit or mark, two per non-ASCII character."""
    return len(_TOKENISH.findall(text)) + len(_NON_ASCII.findall(text))


def _column_line(row: dict[str, Any], values_label: str) -> str:
    """One offered column: name, Chinese name, short description, and up to MAX_VALUES values in VALUE_LIST_CHARS."""
    zh = (row.get("column_name_zh") or "").strip()
    line = f"- {row['column_name']}" + (f" ({zh})" if zh else "")
    description = _shorten(row.get("description"), COLUMN_DESCRIPTION_CHARS)
    if description:
        line += f": {description}"
    values: list[str] = []
    for value in _values(row)[:MAX_VALUES]:
        if values and len(", ".join([*values, value])) > VALUE_LIST_CHARS:
            break
        values.append(_shorten(value, VALUE_CHARS))
    if values:
        line += f" {values_label}{', '.join(values)}"
    return line


def _clean_line(line: str) -> str:
    """One answer line without headings, emphasis, a label before a quote, bullets, numbering, quotes or remarks."""
    text = _EMPHASIS.sub("", _HEADING.sub("", line.strip()))
    labelled = _LABELLED_QUOTE.match(text)
    if labelled and labelled.group(1).split()[0].lower() not in _ASKING_WORDS:
        text = labelled.group(2)
    previous = None
    while text != previous:
        previous = text
        text = _NUMBERING.sub("", _BULLET.sub("", text.strip(_QUOTES))).strip()
    for mark in ("?", "？"):
        head, found, tail = text.partition(mark)
        if found and mark not in tail:
            text = head + mark
            break
    return text.strip(_QUOTES)


def _looks_like_question(text: str) -> bool:
    """Long enough, not SQL, not a heading, and phrased as a question or a request."""
    if text.endswith((":", "：")) or _SQL_START.match(text) or _SQL_INSIDE.search(text) or _CHATTER.match(text):
        return False
    cjk = len(_CJK.findall(text))
    if len(text.split()) < 3 and cjk < 5:
        return False
    if text.endswith(("?", "？")):
        return True
    first = text.split()[0].lower().rstrip(",")
    return first in _ASKING_WORDS or (cjk >= 5 and bool(_ASKING_CJK.search(text)))


def _mentions(lowered: str, term: str, *, plural: bool) -> bool:
    """Whether the lowercased question holds the term: as a whole word for ASCII, as a substring otherwise."""
    if not term:
        return False
    if not term.isascii():
        return term in lowered
    suffix = "(?:s|es)?" if plural else ""
    return re.search(rf"(?<![a-z0-9_-]){re.escape(term)}{suffix}(?![a-z0-9_-])", lowered) is not None
