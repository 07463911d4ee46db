"""The resources of a run; each environment variable that is set becomes a dg.EnvVar-backed setting."""

import os
from collections.abc import Mapping

import dagster as dg

from asasql_resources.annotation import Annotator
from asasql_resources.domain.resource import DomainResource
from asasql_resources.models.chat import ChatModel
from asasql_resources.models.devices import resolve_device
from asasql_resources.models.embedder import Embedder
from asasql_resources.models.locate import SMOLLM2
from asasql_resources.nl2sql.base import Nl2SqlBase
from asasql_resources.reward.model import RewardModel
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import WarehouseIOManager


class SettingError(ValueError):
    """An environment variable holds a value its setting cannot take."""


PRESET_SETTING = "ASASQL_PRESET"
# A preset changes the defaults of other settings (a setting that is set still wins): `tiny` swaps the default
# Qwen2.5-Coder-0.5B-Instruct for the bundled SmolLM2-135M-Instruct, for smoke runs in minutes.
PRESETS: dict[str, dict[str, str]] = {
    "default": {},
    "tiny": {"ASASQL_CHAT_MODEL": SMOLLM2, "ASASQL_NL2SQL_BASE": SMOLLM2},
}


class Settings:
    """Where each setting comes from: an explicit value (the CLI's flags), else its environment variable, else a default.

    A set variable becomes dg.EnvVar(name), so that the UI shows where the value comes from.
    """

    def __init__(self, explicit: Mapping[str, str] | None = None, *, plain: bool = False) -> None:
        """Settings with these explicit values, by variable name (e.g. ASASQL_HOME), over the environment.

        plain: a set variable's value as text, for resources used outside a Dagster run (the CLI's predict, export).
        """
        self.explicit = dict(explicit or {})
        self.plain = plain
        preset = self.raw(PRESET_SETTING) or "default"
        if preset not in PRESETS:
            raise SettingError(f"{PRESET_SETTING}={preset!r}: choose one of {', '.join(PRESETS)}")
        self.preset = PRESETS[preset]

    def value(self, name: str, default: str | None = None) -> str | dg.EnvVar | None:
        """The explicit value, else dg.EnvVar(name) when the variable is set, else the default."""
        if name in self.explicit:
            return self.explicit[name]
        if name not in os.environ:
            return self.preset.get(name, default)
        return os.environ[name] if self.plain else dg.EnvVar(name)

    def raw(self, name: str) -> str | None:
        """The setting's text, explicit or from the environment (None when neither)."""
        return self.explicit.get(name, os.environ.get(name))

    def integers(self, **fields: str) -> dict[str, int]:
        """{field: whole number} for each `field=VARIABLE` that is set (read here: fields' bounds need a value)."""
        values = {}
        for field, name in fields.items():
            text = self.raw(name)
            if text is not None:
                try:
                    values[field] = int(text)
                except ValueError:
                    raise SettingError(f"{name}={text!r}: expected a whole number") from None
        return values

    def device(self, name: str) -> str | dg.EnvVar:
        """The device setting once checked as one this machine can use (a DeviceError if not), else cpu."""
        text = self.raw(name)
        if text is not None:
            resolve_device(text, name)
        return self.value(name, "cpu")


def build_resources(explicit: Mapping[str, str] | None = None, *, plain: bool = False) -> dict[str, object]:
    """Resource instances keyed as the assets ask for them; `explicit` settings win over the environment.

    plain: values as text instead of dg.EnvVar, for resources used outside a Dagster run.
    """
    settings = Settings(explicit, plain=plain)
    setting, int_settings, device_setting = settings.value, settings.integers, settings.device
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
