"""The resources of a run, with their settings taken from the environment where set."""

import os

from asasql_resources.domain.resource import DomainResource
from asasql_resources.sandbox import SqlSandbox
from asasql_resources.warehouse import WarehouseIOManager


def build_resources() -> dict[str, object]:
    """Resource instances keyed as the assets ask for them; env vars give the defaults shown in the UI."""
    return {
        "io_manager": WarehouseIOManager(home=os.environ.get("ASASQL_HOME")),
        "domain": DomainResource(path=os.environ.get("ASASQL_DOMAIN", "project_data")),
        "sandbox": SqlSandbox(),
    }
