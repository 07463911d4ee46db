"""The code location loads, and maps each asset to its group."""

import dagster as dg

from asasql_assets.definitions import defs


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"schema_catalog", "schema_catalog__concepts", "schema_catalog__samples"} <= keys
    assert defs.resolve_job_def("asasql_main") is not None


def test_every_asset_has_description_group_and_code_version() -> None:
    for spec in defs.resolve_all_asset_specs():
        assert spec.description, spec.key
        assert spec.group_name != "default", spec.key
        assert spec.code_version, spec.key
