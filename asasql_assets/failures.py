"""User errors (bad domain, model or server settings) as clean Dagster failures, not tracebacks."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from asasql_resources.domain import DomainValidationError
from asasql_resources.models.devices import DeviceError
from asasql_resources.models.locate import ModelNotFound
from asasql_resources.models.remote import ChatBackendError

USER_ERRORS = (DomainValidationError, ModelNotFound, ChatBackendError, DeviceError)


def failure(error: Exception) -> dg.Failure:
    """A dg.Failure carrying the error's message, not retried: the input must change first."""
    return dg.Failure(description=str(error), metadata={"error": type(error).__name__}, allow_retries=False)


@contextmanager
def user_errors(*more: type[Exception]) -> Iterator[None]:
    """Turn a user error (the known kinds, and `more`) into a clean failure instead of a traceback."""
    try:
        yield
    except (*USER_ERRORS, *more) as error:
        raise failure(error) from None
