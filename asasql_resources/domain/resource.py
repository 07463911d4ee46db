"""DomainResource: the domain folder a run works on."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from asasql_resources.domain.loader import Domain, load_domain


class DomainResource(dg.ConfigurableResource):
    """A domain folder (workbook, samples, optional gold bank, test set and database), validated on load."""

    path: str = Field(default="project_data", description="The domain folder; env ASASQL_DOMAIN.")

    def load(self) -> Domain:
        """Read and validate the folder; raises DomainValidationError listing every problem."""
        return load_domain(Path(self.path).expanduser().resolve())
