"""Annotators of a round's pairs: a workbook for humans, execution match for simulations, an LLM judge."""

from asasql_resources.annotation.judge import judge_labels, judge_prompts, parse_verdict
from asasql_resources.annotation.reference import order_matters, reference_labels, results_match
from asasql_resources.annotation.resource import ANNOTATOR_KINDS, Annotator
from asasql_resources.annotation.workbook import (
    AnnotationError,
    WorkbookStatus,
    export_workbook,
    ids_fingerprint,
    read_workbook,
    workbook_status,
)

__all__ = [
    "ANNOTATOR_KINDS",
    "AnnotationError",
    "Annotator",
    "WorkbookStatus",
    "export_workbook",
    "ids_fingerprint",
    "judge_labels",
    "judge_prompts",
    "order_matters",
    "parse_verdict",
    "read_workbook",
    "reference_labels",
    "results_match",
    "workbook_status",
]
