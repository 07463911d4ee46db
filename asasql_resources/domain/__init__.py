"""Read and check a domain folder (description_full.xlsx, data_sample.json, optional files)."""

from asasql_resources.domain.config import CONFIG_FILE, DomainConfig, read_config
from asasql_resources.domain.errors import DomainIssue, DomainValidationError
from asasql_resources.domain.loader import DATABASE_FILE, Domain, load_domain, validate_domain
from asasql_resources.domain.samples import (
    GOLD_BANK_FILE,
    SAMPLES_FILE,
    TEST_SET_FILE,
    parse_label,
    read_pairs,
    read_samples,
)
from asasql_resources.domain.workbook import WORKBOOK_FILE, parse_possible_values, read_workbook

__all__ = [
    "CONFIG_FILE",
    "DATABASE_FILE",
    "GOLD_BANK_FILE",
    "SAMPLES_FILE",
    "TEST_SET_FILE",
    "WORKBOOK_FILE",
    "Domain",
    "DomainConfig",
    "DomainIssue",
    "DomainValidationError",
    "load_domain",
    "parse_label",
    "parse_possible_values",
    "read_config",
    "read_pairs",
    "read_samples",
    "read_workbook",
    "validate_domain",
]
