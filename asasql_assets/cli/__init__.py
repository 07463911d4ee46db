"""The asasql command line."""

from asasql_assets.cli.main import main

__all__ = ["main"]
