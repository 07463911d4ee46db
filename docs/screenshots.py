"""Regenerate the README's screenshots of the UI (asset graph, round partitions) from a filled ASASQL_HOME."""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asasql_resources.warehouse import Home, resolve_home  # noqa: E402
from tests.ui_server import (  # noqa: E402
    DagsterDevError,
    chromium,
    dagster_dev,
    open_asset_graph,
    open_partitions,
    save_screenshot,
    set_nux_seen,
)

PARTITIONED_ASSET = "reward_model"


def take_screenshots(home: Home, dagster_home: Path, out: Path) -> list[Path]:
    """Serve the home with dagster dev and save asset_graph.png and partitions.png under out; the paths written."""
    with tempfile.TemporaryDirectory(prefix="asasql-ui-") as scratch:
        with dagster_dev(home.root, dagster_home, Path(scratch) / "dagster_dev.log") as server, chromium() as browser:
            set_nux_seen(server)
            written = save_screenshot(open_asset_graph(browser, server), "asset_graph.png", [out])
            partitions = open_partitions(browser, server, PARTITIONED_ASSET)
            written += save_screenshot(partitions, "partitions.png", [out])
    return written


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, take the screenshots and print where they went; 2 when the home or server fails."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True, help="an ASASQL_HOME that `asasql run` has filled")
    parser.add_argument("--out", default="docs/images", help="folder for the PNGs (default: docs/images)")
    args = parser.parse_args(argv)
    home = Home(resolve_home(args.home))
    if not home.root.is_dir():
        print(f"error: {home.root} is not a folder", file=sys.stderr)
        return 2
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home.dagster).resolve()
    try:
        written = take_screenshots(home, dagster_home, Path(args.out).resolve())
    except DagsterDevError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
