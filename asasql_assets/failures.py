"""User errors (bad domain, model or server settings) as clean Dagster failures, not tracebacks."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from asasql_resources.domain import DomainValidationError
from asasql_resources.models.locate import ModelNotFound
from asasql_resources.models.remote import ChatBackendError

USER_ERRORS = (DomainValidationError, ModelNotFound, ChatBackendError)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a user error into dg.Failure carrying its message (no retries: the input must change first)."""
    try:
        yield
    except USER_ERRORS as error:
        raise dg.Failure(
            description=str(error), metadata={"error": type(error).__name__}, allow_retries=False
        ) from None
