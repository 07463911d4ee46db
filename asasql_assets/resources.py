"""The resources of a run; each environment variable that is set becomes a dg.EnvVar-backed setting."""

import os

import dagster as dg

from asasql_resources.annotation import Annotator
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.devices import resolve_device
from asasql_resources.models.embedder import Embedder
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.reward.model import RewardModel
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import WarehouseIOManager


def setting(name: str, default: str | None = None) -> str | dg.EnvVar | None:
    """dg.EnvVar(name) when the variable is set (the UI then shows where the value comes from), else the default."""
    return dg.EnvVar(name) if name in os.environ else default


class SettingError(ValueError):
    """An environment variable holds a value its setting cannot take."""


def int_settings(**fields: str) -> dict[str, int]:
    """{field: whole number} for each `field=VARIABLE` whose variable is set (read here: fields' bounds need a value)."""
    values = {}
    for field, name in fields.items():
        if name in os.environ:
            try:
                values[field] = int(os.environ[name])
            except ValueError:
                raise SettingError(f"{name}={os.environ[name]!r}: expected a whole number") from None
    return values


def device_setting(name: str) -> str | dg.EnvVar:
    """dg.EnvVar(name) once its device is checked as one this machine can use (a DeviceError if not), else cpu."""
    if name in os.environ:
        resolve_device(os.environ[name], name)
    return setting(name, "cpu")


def build_resources() -> dict[str, object]:
    """Resource instances keyed as the assets ask for them."""
    home = setting("ASASQL_HOME")
    return {
        "io_manager": WarehouseIOManager(home=home),
        "domain": DomainResource(path=setting("ASASQL_DOMAIN", "project_data")),
        "sandbox": SqlSandbox(),
        "chat": ChatModel(
            backend=setting("ASASQL_CHAT_BACKEND", "transformers"),
            model=setting("ASASQL_CHAT_MODEL", ""),
            base_url=setting("ASASQL_CHAT_BASE_URL", ""),
            api_key=setting("ASASQL_CHAT_API_KEY", ""),
            device=device_setting("ASASQL_CHAT_DEVICE"),
            home=home,
            **int_settings(
                concurrency="ASASQL_CHAT_CONCURRENCY",
                timeout_s="ASASQL_CHAT_TIMEOUT_S",
                max_retries="ASASQL_CHAT_MAX_RETRIES",
                batch_size="ASASQL_CHAT_BATCH_SIZE",
            ),
        ),
        "embedder": Embedder(
            model=setting("ASASQL_EMBED_MODEL", ""),
            query_instruction=setting("ASASQL_EMBED_QUERY_INSTRUCTION", ""),
            device=device_setting("ASASQL_EMBED_DEVICE"),
        ),
        "reward_base": RewardModel(
            base=setting("ASASQL_REWARD_BASE", "embedder"), device=device_setting("ASASQL_REWARD_DEVICE")
        ),
        "nl2sql_base": Nl2SqlBase(
            model=setting("ASASQL_NL2SQL_BASE", ""), device=device_setting("ASASQL_NL2SQL_DEVICE")
        ),
        "annotator": Annotator(
            kind=setting("ASASQL_ANNOTATOR", "reference"), annotator_id=setting("ASASQL_ANNOTATOR_ID", "")
        ),
    }
