"""Run `dagster dev` on loopback, drive it through its GraphQL API, and photograph its pages in headless Chromium."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from asasql_assets.cli.jobs import DAGSTER_YAML
from asasql_assets.partitions import ROUNDS

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCATION = "asasql"
# The name Dagster gives the one repository of a Definitions object.
REPOSITORY = "__repository__"
# The name of the implicit job that materializes any selection of assets.
ASSET_JOB = "__ASSET_JOB"
# The title of the first-run pop-up ("NUX") that dagster dev shows on a loopback address.
NUX_TITLE = "Join the Dagster community"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
# A viewport in which the whole expanded graph fits with its node names legible.
GRAPH_VIEWPORT: ViewportSize = {"width": 1600, "height": 1300}
PAGE_VIEWPORT: ViewportSize = {"width": 1440, "height": 800}
PAGE_TIMEOUT_MS = 120_000


class DagsterDevError(RuntimeError):
    """dagster dev failed to start, or its GraphQL API answered with an error."""


@dataclass(frozen=True)
class DagsterDev:
    """A running `dagster dev`: its URL, its process (the leader of its own process group) and its log."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one GraphQL request and return its data; GraphQL errors raise DagsterDevError."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_instance_config(dagster_home: Path) -> None:
    """Write asasql's dagster.yaml (one run at a time, no telemetry) into DAGSTER_HOME unless it has one."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)


@contextmanager
def dagster_dev(asasql_home: Path, dagster_home: Path, log: Path, timeout: float = 180.0) -> Iterator[DagsterDev]:
    """Run `dagster dev -w workspace.yaml` from the repository on a free loopback port until the block ends."""
    ensure_instance_config(dagster_home)
    port = free_port()
    env = {**os.environ, "ASASQL_HOME": str(asasql_home), "DAGSTER_HOME": str(dagster_home)}
    command = [str(Path(sys.executable).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterDev(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_until_loaded(server, timeout)
        yield server
    finally:
        stop(process)


def wait_until_loaded(server: DagsterDev, timeout: float) -> None:
    """Poll until the webserver answers and the asasql code location has loaded; raise if it fails or times out."""
    query = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } ... on PythonError { message } } }"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise DagsterDevError(f"dagster dev exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            workspace = server.graphql(query)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1.0)
            continue
        entries = {entry["name"]: entry for entry in workspace.get("locationEntries", [])}
        entry = entries.get(LOCATION)
        if entry is not None and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"]
            if loaded["__typename"] == "PythonError":
                raise DagsterDevError(f"code location {LOCATION!r} failed to load: {loaded['message']}")
            return
        time.sleep(1.0)
    raise DagsterDevError(f"dagster dev did not load {LOCATION!r} within {timeout:.0f} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Interrupt the server's whole process group as Ctrl-C would, then kill what is left of it after grace seconds."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def repository_selector() -> dict[str, str]:
    """The GraphQL RepositorySelector of the asasql code location."""
    return {"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION}


def should_show_nux(server: DagsterDev) -> bool:
    """Whether the UI would show its first-run pop-up."""
    return server.graphql("{ shouldShowNux }")["shouldShowNux"]


def set_nux_seen(server: DagsterDev) -> None:
    """Record that the first-run pop-up was dismissed, so that no page shows it again."""
    if not server.graphql("mutation { setNuxSeen }")["setNuxSeen"]:
        raise DagsterDevError("setNuxSeen did not record the pop-up as seen")


def add_round(server: DagsterDev, partition: str) -> None:
    """Add one partition to the dynamic partitions of the active-learning rounds."""
    mutation = """mutation($repository: RepositorySelector!, $name: String!, $key: String!) {
        addDynamicPartition(repositorySelector: $repository, partitionsDefName: $name, partitionKey: $key) {
            __typename ... on Error { message } } }"""
    variables = {"repository": repository_selector(), "name": ROUNDS.name, "key": partition}
    result = server.graphql(mutation, variables)["addDynamicPartition"]
    if result["__typename"] != "AddDynamicPartitionSuccess":
        raise DagsterDevError(f"addDynamicPartition {partition!r}: {result}")


def launch_assets(server: DagsterDev, assets: Iterable[str]) -> str:
    """Launch a run of the implicit asset job that materializes these assets in one process; its run id."""
    mutation = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message }
        ... on RunConfigValidationInvalid { errors { message } }
        ... on InvalidStepError { invalidStepKey } ... on InvalidOutputError { invalidOutputName } } }"""
    selector = {**repository_selector(), "jobName": ASSET_JOB, "assetSelection": [{"path": [a]} for a in assets]}
    # in_process: a cheap run should not pay for a step subprocess that imports the code location again.
    params = {"selector": selector, "runConfigData": {"execution": {"config": {"in_process": {}}}}}
    result = server.graphql(mutation, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise DagsterDevError(f"launchRun: {result}")
    return result["run"]["runId"]


def wait_for_run(server: DagsterDev, run_id: str, timeout: float) -> str:
    """Poll a run until it has finished; its final status (SUCCESS, FAILURE or CANCELED)."""
    query = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } ... on Error { message } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = server.graphql(query, {"id": run_id})["runOrError"]
        if run["__typename"] != "Run":
            raise DagsterDevError(f"run {run_id}: {run}")
        if run["status"] in FINISHED:
            return run["status"]
        time.sleep(2.0)
    raise DagsterDevError(f"run {run_id} did not finish within {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright, with everything that reaches past loopback turned off."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, server: DagsterDev, path: str, viewport: ViewportSize = PAGE_VIEWPORT) -> Page:
    """A new page (with fresh browser storage) on one path of the UI, once its requests have settled."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{server.url}{path}", wait_until="networkidle")
    return page


def open_asset_graph(browser: Browser, server: DagsterDev) -> Page:
    """The global asset lineage with every group expanded, fitted to the view beside the group tree."""
    page = open_page(browser, server, "/asset-groups", GRAPH_VIEWPORT)
    page.locator("foreignObject").first.wait_for()
    page.get_by_role("button", name="Hide navigation").click()
    # "Expand all groups" (⌥E) records the expanded groups in the URL; reloading fits the graph to the view.
    page.keyboard.press("Alt+KeyE")
    page.wait_for_url(lambda url: "expanded=" in url)
    page.reload(wait_until="networkidle")
    page.locator("foreignObject").first.wait_for()
    return page


def open_partitions(browser: Browser, server: DagsterDev, asset: str) -> Page:
    """An asset's partitions tab, once its list of partitions has rendered."""
    page = open_page(browser, server, f"/assets/{asset}?view=partitions")
    page.get_by_text("Partitions Selected").wait_for()
    return page


def node_labels(page: Page) -> list[str]:
    """The text lines of the asset graph's nodes (groups and assets)."""
    texts = page.locator("foreignObject > *").all_inner_texts()
    return [line.strip() for text in texts for line in text.splitlines()]


def shows_name(label: str, name: str) -> bool:
    """Whether a node label is the name itself, or the name with its middle cut out for an ellipsis."""
    head, ellipsis, tail = label.partition("…")
    if not ellipsis:
        return label == name
    return len(head) + len(tail) < len(name) and name.startswith(head) and name.endswith(tail)


def missing_names(labels: Sequence[str], names: Iterable[str]) -> list[str]:
    """The names that no node label shows."""
    return [name for name in names if not any(shows_name(label, name) for label in labels)]


def save_screenshot(page: Page, filename: str, folders: Iterable[Path]) -> list[Path]:
    """Save a PNG of the page's viewport under each folder; the paths written."""
    image = page.screenshot(type="png")
    written = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(image)
        written.append(folder / filename)
    return written
