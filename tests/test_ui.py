"""The UI end to end: dagster dev on loopback, driven through GraphQL and checked in headless Chromium."""

import os
from pathlib import Path

from playwright.sync_api import expect

from asasql_assets.catalog.assets import schema_catalog
from asasql_assets.definitions import defs
from asasql_resources.warehouse import Home
from tests.ui_server import (
    NUX_TITLE,
    add_round,
    chromium,
    dagster_dev,
    launch_assets,
    missing_names,
    node_labels,
    open_asset_graph,
    open_page,
    open_partitions,
    save_screenshot,
    set_nux_seen,
    should_show_nux,
    wait_for_run,
)

ROUND_KEYS = ("round_0", "round_1")
RUN_TIMEOUT_S = 300.0


def test_graph_and_round_partitions_in_a_real_browser(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    folders = [tmp_path / "screenshots"]
    if os.environ.get("ASASQL_UI_SCREENSHOTS"):
        folders.append(Path(os.environ["ASASQL_UI_SCREENSHOTS"]))
    asset_names = sorted(key.to_user_string() for key in defs.resolve_all_asset_keys())
    with dagster_dev(home.root, home.dagster, tmp_path / "dagster_dev.log") as server, chromium() as browser:
        # A fresh instance greets the first visitor with a pop-up that would hide the graph.
        assert should_show_nux(server)
        greeted = open_page(browser, server, "/asset-groups")
        expect(greeted.get_by_text(NUX_TITLE)).to_be_visible(timeout=30_000)
        greeted.close()
        set_nux_seen(server)
        assert not should_show_nux(server)

        run_id = launch_assets(server, [key.to_user_string() for key in schema_catalog.keys])
        for key in ROUND_KEYS:
            add_round(server, key)
        assert wait_for_run(server, run_id, RUN_TIMEOUT_S) == "SUCCESS", server.log_tail()
        assert home.asset_file("schema_catalog", None).is_file()

        graph = open_asset_graph(browser, server)
        labels = node_labels(graph)
        assert not missing_names(labels, asset_names), f"graph nodes {labels} lack some of {asset_names}"
        expect(graph.get_by_text(NUX_TITLE)).to_have_count(0)
        graph_files = save_screenshot(graph, "asset_graph.png", folders)

        partitions = open_partitions(browser, server, "reward_model")
        for key in ROUND_KEYS:
            expect(partitions.get_by_text(key, exact=True).first).to_be_visible()
        partition_files = save_screenshot(partitions, "partitions.png", folders)
    assert server.process.returncode is not None
    for image in [*graph_files, *partition_files]:
        assert image.read_bytes().startswith(b"\x89PNG"), image
