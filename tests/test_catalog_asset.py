"""schema_catalog materializes a domain into the warehouse, and a bad domain writes nothing."""

from pathlib import Path

import dagster as dg
import pytest

from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.catalog.checks import every_column_has_values, every_table_described
from asasql_resources.domain.resource import DomainResource
from asasql_resources.warehouse import Home, WarehouseIOManager, connect_readonly
from tests.domain_factory import DomainSpec, write_domain


def _materialize(domain: Path, home: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [schema_catalog, every_table_described, every_column_has_values],
        resources={"io_manager": WarehouseIOManager(home=str(home)), "domain": DomainResource(path=str(domain))},
    )


def test_catalog_concepts_and_samples_become_views(tmp_path: Path) -> None:
    domain = write_domain(tmp_path / "shop")
    result = _materialize(domain, tmp_path / "home")
    assert result.success
    con = connect_readonly(Home(tmp_path / "home"))
    try:
        tables = con.execute("select count(distinct table_name), count(*) from schema_catalog").fetchone()
        values = con.execute("select possible_values from schema_catalog where column_name = 'status'").fetchone()[0]
        labels = con.execute("select label, count(*) from schema_catalog__samples group by 1 order by 1").fetchall()
        concepts = con.execute("select count(*) from schema_catalog__concepts").fetchone()[0]
    finally:
        con.close()
    assert tables[0] == 3 and tables[1] >= 6
    assert isinstance(values, list) and values
    assert labels == [(False, 1), (True, 2)]
    assert concepts == 2
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"every_table_described", "every_column_has_values"}


def test_bad_domain_fails_the_run_and_writes_nothing(tmp_path: Path) -> None:
    spec = DomainSpec()
    spec.sheets = {name: rows for name, rows in spec.sheets.items() if name != "concept"}
    domain = write_domain(tmp_path / "broken", spec)
    with pytest.raises(dg.Failure, match=r"description_full.xlsx.*sheet 'concept'|concept"):
        _materialize(domain, tmp_path / "home")
    assert not (tmp_path / "home" / "parquet").exists()


def test_demo_domain_materializes(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[1] / "project_data"
    assert _materialize(demo, tmp_path).success
    con = connect_readonly(Home(tmp_path))
    try:
        columns, tables = con.execute("select count(*), count(distinct table_name) from schema_catalog").fetchone()
    finally:
        con.close()
    assert columns >= 60 and tables >= 6
