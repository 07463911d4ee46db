"""asasql: ASASQL as a Dagster asset pipeline."""
