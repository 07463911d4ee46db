"""A second domain that shares nothing with the demo: a school's students, courses and enrollments (Postgres SQL)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.domain_factory import DomainSpec, write_domain

SCHEMA_HEADER = ["table_name", "column_name", "column_name_zh", "description", "reason", "possible_value", "data_type"]
# table -> rows of (column, Chinese name, description, reason, possible values, data type)
COLUMNS: dict[str, list[tuple[str, str, str, str, list[object], str]]] = {
    "students": [
        ("student_id", "学号", "Student identifier.", "Joins enrollments to students.", [1, 2, 3, 4, 5, 6], "INTEGER"),
        (
            "full_name",
            "姓名",
            "The student's full name.",
            "Questions list students by name.",
            ["Ana Silva", "Ben Okafor", "Chen Wei", "Dara Nolan", "Eli Haddad", "Femi Adeyemi"],
            "VARCHAR",
        ),
        (
            "grade_level",
            "年级",
            "Year of study, 1 to 4.",
            "Questions filter and group students by year.",
            [1, 2, 3, 4],
            "INTEGER",
        ),
    ],
    "courses": [
        (
            "course_id",
            "课程编号",
            "Course identifier.",
            "Joins enrollments to courses.",
            [101, 102, 103, 104],
            "INTEGER",
        ),
        (
            "title",
            "课程名称",
            "The course's title.",
            "Questions name courses by title.",
            ["Algebra", "Biology", "Chemistry", "World History"],
            "VARCHAR",
        ),
        (
            "department",
            "院系",
            "Department that teaches the course.",
            "Questions filter courses by department.",
            ["mathematics", "science", "humanities"],
            "VARCHAR",
        ),
        (
            "credits",
            "学分",
            "Credits the course is worth.",
            "Questions sum and filter by credits.",
            [2, 3, 4],
            "INTEGER",
        ),
    ],
    "enrollments": [
        ("student_id", "学号", "The enrolled student.", "Joins to students.", [1, 2, 3, 4, 5, 6], "INTEGER"),
        ("course_id", "课程编号", "The course taken.", "Joins to courses.", [101, 102, 103, 104], "INTEGER"),
        (
            "term",
            "学期",
            "Academic term of the enrollment.",
            "Questions ask about one term.",
            ["2024-fall", "2025-spring"],
            "VARCHAR",
        ),
        (
            "score",
            "成绩",
            "Final score, 0 to 100.",
            "Questions average scores and look for passes.",
            [55, 68, 74, 81, 90, 97],
            "INTEGER",
        ),
    ],
}
TABLES = {
    "students": "One row per student enrolled at the school.",
    "courses": "One row per course the school teaches.",
    "enrollments": "One row per student taking one course in one term, with the final score.",
}
CONCEPTS = [
    ["entity", "description"],
    ["passing score", "A score of at least 60 in enrollments.score."],
    ["course load", "The number of courses a student is enrolled in during one term."],
]
JOIN_SQL = (
    "SELECT DISTINCT s.full_name FROM students AS s JOIN enrollments AS e ON s.student_id = e.student_id "
    "JOIN courses AS c ON c.course_id = e.course_id WHERE c.title = 'Biology'"
)
# (question, sql, tables, columns, label): labels in every accepted spelling.
SAMPLES: list[tuple[str, str, list[str], list[tuple[str, str]], object]] = [
    (
        "How many students are in year 2?",
        "SELECT COUNT(*) FROM students WHERE grade_level = 2",
        ["students"],
        [("students", "grade_level")],
        True,
    ),
    (
        "List the titles of the science courses.",
        "SELECT title FROM courses WHERE department = 'science'",
        ["courses"],
        [("courses", "title"), ("courses", "department")],
        "correct",
    ),
    (
        "What is the average score in the 2025-spring term?",
        "SELECT AVG(score) FROM enrollments WHERE term = '2025-spring'",
        ["enrollments"],
        [("enrollments", "score"), ("enrollments", "term")],
        1,
    ),
    (
        "Which courses are worth 4 credits?",
        "SELECT title FROM courses WHERE credits = 3",
        ["courses"],
        [("courses", "title"), ("courses", "credits")],
        False,
    ),
    (
        "How many enrollments have a failing score?",
        "SELECT COUNT(*) FROM enrollments WHERE score > 60",
        ["enrollments"],
        [("enrollments", "score")],
        "incorrect",
    ),
    (
        "Which students take Biology?",
        JOIN_SQL,
        ["students", "enrollments", "courses"],
        [("students", "full_name"), ("courses", "title")],
        "true",
    ),
]
GOLD_BANK = [
    {
        "question": "How many courses does the mathematics department teach?",
        "sql": "SELECT COUNT(*) FROM courses WHERE department = 'mathematics'",
    },
    {"question": "What is the highest score on record?", "sql": "SELECT MAX(score) FROM enrollments"},
    {"question": "How many students are in year 4?", "sql": "SELECT COUNT(*) FROM students WHERE grade_level = 4"},
    {"question": "List the courses worth 2 credits.", "sql": "SELECT title FROM courses WHERE credits = 2"},
    {
        "question": "How many enrollments are in the 2024-fall term?",
        "sql": "SELECT COUNT(*) FROM enrollments WHERE term = '2024-fall'",
    },
    {
        "question": "What is the average score per term?",
        "sql": "SELECT term, AVG(score) FROM enrollments GROUP BY term",
    },
    {
        "question": "How many credits is Chemistry worth?",
        "sql": "SELECT credits FROM courses WHERE title = 'Chemistry'",
    },
    {
        "question": "Which students passed Algebra?",
        "sql": "SELECT DISTINCT s.full_name FROM students AS s JOIN enrollments AS e ON s.student_id = e.student_id "
        "JOIN courses AS c ON c.course_id = e.course_id WHERE c.title = 'Algebra' AND e.score >= 60",
    },
]
TEST_SET = [
    {
        "question": "Which courses belong to the humanities department?",
        "sql": "SELECT title FROM courses WHERE department = 'humanities'",
        "category": "filter",
    },
    {
        "question": "What is the lowest score in the 2025-spring term?",
        "sql": "SELECT MIN(score) FROM enrollments WHERE term = '2025-spring'",
        "category": "aggregate",
    },
    {
        "question": "How many students are there in each year?",
        "sql": "SELECT grade_level, COUNT(*) FROM students GROUP BY grade_level",
        "category": "group_by",
    },
    {
        "question": "What is the average score in Biology?",
        "sql": "SELECT AVG(e.score) FROM enrollments AS e JOIN courses AS c ON c.course_id = e.course_id "
        "WHERE c.title = 'Biology'",
        "category": "join",
    },
]
CONFIG = (
    "name: school\ndescription: Students, courses and enrollments of one school.\nsql_dialect: postgres\nlanguage: en\n"
)


def school_spec() -> DomainSpec:
    """The school domain as a DomainSpec for tests/domain_factory.write_domain."""
    schema = [list(SCHEMA_HEADER)] + [
        [table, column, zh, description, reason, json.dumps(values, ensure_ascii=False), data_type]
        for table, rows in COLUMNS.items()
        for column, zh, description, reason, values, data_type in rows
    ]
    meta = [["table", "description"], *([table, text] for table, text in TABLES.items())]
    return DomainSpec(
        sheets={"schema": schema, "meta": meta, "concept": [list(row) for row in CONCEPTS]},
        samples=[_sample(*sample) for sample in SAMPLES],
        gold_bank=[dict(pair) for pair in GOLD_BANK],
        test_set=[dict(pair) for pair in TEST_SET],
        config=CONFIG,
    )


def write_school(root: Path) -> Path:
    """Write the school domain folder into root and return it."""
    return write_domain(root, school_spec())


def _sample(
    question: str, sql: str, tables: list[str], columns: list[tuple[str, str]], label: object
) -> dict[str, object]:
    """One data_sample.json item with the seed's table and column fields, one entry per line."""
    by_name = {(table, row[0]): row for table, rows in COLUMNS.items() for row in rows}
    column_lines = []
    for key in columns:
        column, zh, description, _, values, _ = by_name[key]
        column_lines.append(f"({column};{zh};{description};{json.dumps(values, ensure_ascii=False)})")
    return {
        "origin_query": question,
        "sql": sql,
        "table_name": ", ".join(tables),
        "table": "\n".join(f"({table};{TABLES[table]})" for table in tables),
        "column": "\n".join(column_lines),
        "label": label,
    }
