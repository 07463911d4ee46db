"""Annotator: which annotator labels a round's pairs, and the id recorded with its labels."""

from __future__ import annotations

import getpass

import dagster as dg
from pydantic import Field, field_validator

ANNOTATOR_KINDS = ("reference", "workbook", "judge", "none")
CORRECTED_SUFFIX = "#corrected"  # the candidate id of a correction: the corrected pair's id and this


class Annotator(dg.ConfigurableResource):
    """Who labels each round: execution match against gold_bank.json, humans through a workbook, or an LLM judge."""

    kind: str = Field(
        default="reference",
        description="reference: execution match against gold_bank.json (simulations); workbook: humans label an "
        "xlsx with dropdowns, imported when it comes back; judge: the chat model judges each pair, meant for strong "
        "models (e.g. served through the openai backend), not the small bundled one. Env ASASQL_ANNOTATOR.",
    )
    annotator_id: str = Field(
        default="",
        description="Recorded with every label. Empty means the default: 'reference' for reference, the OS user "
        "name for workbook, the chat model's identity for judge. Env ASASQL_ANNOTATOR_ID.",
    )

    reference_corrections: bool = Field(
        default=True,
        description="reference: a pair labeled incorrect also gets the gold SQL as its correction (a positive pair), "
        "as a human writes in the workbook's corrected_sql column.",
    )

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, kind: object) -> object:
        """Refuse an unknown kind; an EnvVar is checked once Dagster resolves it."""
        if isinstance(kind, dg.EnvVar) or kind in ANNOTATOR_KINDS:
            return kind
        raise ValueError(f"annotator kind {kind!r} (ASASQL_ANNOTATOR): choose one of {', '.join(ANNOTATOR_KINDS)}")

    def default_id(self, chat_identity: str) -> str:
        """annotator_id when set, else the kind's default (`chat_identity` is used by judge only)."""
        if self.annotator_id.strip():
            return self.annotator_id.strip()
        if self.kind == "workbook":
            return _user_name()
        if self.kind == "judge":
            return chat_identity
        return "reference"


def _user_name() -> str:
    """The OS user name; "workbook" where the process has none (e.g. a container without a passwd entry)."""
    try:
        return getpass.getuser()
    except OSError:
        return "workbook"
