"""The code location loads, and maps each asset to its group."""

import dagster as dg
import pytest

from asasql_assets.definitions import defs


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"schema_catalog", "schema_catalog__concepts", "schema_catalog__samples"} <= keys
    assert {"schema_catalog__test_set", "schema_catalog__gold_bank", "nl2sql_model_labeled_only"} <= keys
    assert defs.resolve_job_def("asasql_main") is not None


def test_every_asset_has_description_group_and_code_version() -> None:
    for spec in defs.resolve_all_asset_specs():
        assert spec.description, spec.key
        assert spec.group_name != "default", spec.key
        assert spec.code_version and spec.code_version != "1", spec.key


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from asasql_assets.resources import build_resources

    monkeypatch.setenv("ASASQL_CHAT_BACKEND", "openai")
    monkeypatch.setenv("ASASQL_CHAT_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ASASQL_EMBED_MODEL", "/models/bge-large-zh-v1.5")
    resources = build_resources()
    chat = resources["chat"].process_config_and_initialize()
    assert (chat.backend, chat.base_url) == ("openai", "http://127.0.0.1:9/v1")
    assert resources["embedder"].process_config_and_initialize().model == "/models/bge-large-zh-v1.5"
    assert resources["domain"].process_config_and_initialize().path == "project_data"
