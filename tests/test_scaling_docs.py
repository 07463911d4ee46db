"""docs/scaling.md and docs/deploy/: the examples pass Dagster's own validation and name only real settings.

What is checked, and against what:
- docs/deploy/dagster.yaml against Dagster's instance schema (`dagster_instance_config`, the function that
  loads DAGSTER_HOME/dagster.yaml), and its run coordinator by loading the class. The run launcher's own
  config is checked against dagster-k8s's K8sRunLauncher schema where dagster-k8s is installed, and always
  against the field names of that schema in dagster-k8s 0.29.27 (snapshot below). The Postgres storage
  block against dagster-postgres's schema where it is installed (the core schema checks it always).
- docs/deploy/values.yaml: there is no chart schema to be had offline (no PyPI, npm or Debian package
  carries the chart's values.schema.json), so the test checks YAML, the user deployment's required fields
  and their types, that its code server loads this project's Definitions, and that it agrees with
  dagster.yaml.
- docs/scaling.md: every YAML block parses; the chat run config validates against the `asasql_main`
  job; an instance snippet validates against the instance schema; the k8s_job_executor run config
  against the executor's schema where dagster-k8s is installed; every ASASQL_* variable named there or in
  docs/deploy/ is read by the code, and every benchmark script named exists.
"""

import importlib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy"
SCALING = ROOT / "docs" / "scaling.md"
INSTANCE_YAML = DEPLOY / "dagster.yaml"
VALUES_YAML = DEPLOY / "values.yaml"
SOURCE_DIRS = (ROOT / "asasql_assets", ROOT / "asasql_resources")

# The fields of K8sRunLauncher.config_type() in dagster-k8s 0.29.27 (the release that matches dagster
# 1.13.27), read with the package installed. test_run_launcher_passes_dagster_k8s_schema keeps it true.
K8S_RUN_LAUNCHER_FIELDS = frozenset(
    {
        "dagster_home",
        "env_config_maps",
        "env_secrets",
        "env_vars",
        "fail_pod_on_run_failure",
        "image_pull_policy",
        "image_pull_secrets",
        "instance_config_map",
        "job_image",
        "job_namespace",
        "k8s_api_ssl_ca_cert_file",
        "kubeconfig_file",
        "labels",
        "load_incluster_config",
        "only_allow_user_defined_env_vars",
        "only_allow_user_defined_k8s_config_fields",
        "postgres_password_secret",
        "resources",
        "run_k8s_config",
        "scheduler_name",
        "security_context",
        "service_account_name",
        "volume_mounts",
        "volumes",
    }
)
PULL_POLICIES = {"Always", "IfNotPresent", "Never"}
PG_ENV = ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB")


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables that dagster.yaml reads with `env:` (Dagster resolves them while validating)."""
    for name in PG_ENV:
        monkeypatch.setenv(name, f"test-{name.lower()}")


def validated_instance(text: str, folder: Path) -> Mapping[str, Any]:
    """The instance config Dagster makes of this dagster.yaml text (raises DagsterInvalidConfigError)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(text)
    config, custom_class = dagster_instance_config(str(folder))
    assert custom_class is None
    return config


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def doc_yaml_blocks() -> list[Any]:
    """Every ```yaml block of docs/scaling.md, parsed."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", SCALING.read_text(), flags=re.S | re.M)
    assert blocks, "docs/scaling.md has no yaml block"
    return [yaml.safe_load(block) for block in blocks]


def user_deployment() -> Mapping[str, Any]:
    deployments = load_yaml(VALUES_YAML)["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]


# --- docs/deploy/dagster.yaml ----------------------------------------------------------------------


def test_instance_yaml_passes_dagsters_instance_schema(tmp_path: Path, pg_env: None) -> None:
    config = validated_instance(INSTANCE_YAML.read_text(), tmp_path)
    assert (config["run_launcher"]["module"], config["run_launcher"]["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert set(config["storage"]) == {"postgres"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("run_launcher:", "run_launchr:"),  # an unknown top-level key
        ("max_concurrent_runs: 1", "max_concurrent_runs: one"),  # a wrong type
        ("      port: 5432", "      port: 5432\n      portt: 5433"),  # an unknown Postgres key
    ],
)
def test_the_instance_schema_rejects_a_broken_copy(tmp_path: Path, pg_env: None, old: str, new: str) -> None:
    text = INSTANCE_YAML.read_text()
    assert old in text
    with pytest.raises(DagsterInvalidConfigError):
        validated_instance(text.replace(old, new, 1), tmp_path)


def test_run_queue_is_one_run_at_a_time_as_asasql_run_writes_it(tmp_path: Path, pg_env: None) -> None:
    from asasql_assets.cli.jobs import DAGSTER_YAML

    config = validated_instance(INSTANCE_YAML.read_text(), tmp_path)
    assert config["concurrency"] == yaml.safe_load(DAGSTER_YAML)["concurrency"]
    coordinator = config["run_coordinator"]
    loaded = ConfigurableClassData(
        coordinator["module"], coordinator["class"], yaml.safe_dump(coordinator.get("config") or {})
    ).rehydrate()
    assert isinstance(loaded, dg.QueuedRunCoordinator)


def test_run_launcher_uses_k8s_run_launcher_fields_only(tmp_path: Path, pg_env: None) -> None:
    launcher = validated_instance(INSTANCE_YAML.read_text(), tmp_path)["run_launcher"]["config"]
    assert set(launcher) <= K8S_RUN_LAUNCHER_FIELDS, set(launcher) - K8S_RUN_LAUNCHER_FIELDS
    # Required by the schema (instance_config_map) and by K8sRunLauncher.__init__ (service_account_name).
    assert {"instance_config_map", "service_account_name"} <= set(launcher)


def test_run_launcher_passes_dagster_k8s_schema(tmp_path: Path, pg_env: None) -> None:
    dagster_k8s = pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    from dagster_k8s.job import DagsterK8sJobConfig

    launcher = validated_instance(INSTANCE_YAML.read_text(), tmp_path)["run_launcher"]["config"]
    schema = dagster_k8s.K8sRunLauncher.config_type()
    assert set(schema) == K8S_RUN_LAUNCHER_FIELDS
    result = validate_config(schema, launcher)
    assert result.success, result.errors
    # The volumes and mounts convert to Kubernetes' own V1Volume and V1VolumeMount models.
    DagsterK8sJobConfig(volumes=launcher["volumes"], volume_mounts=launcher["volume_mounts"])
    broken = {**launcher, "job_namspace": "asasql"}
    assert not validate_config(schema, broken).success


def test_postgres_storage_passes_dagster_postgres_schema(tmp_path: Path, pg_env: None) -> None:
    dagster_postgres = pytest.importorskip("dagster_postgres", reason="dagster-postgres is not installed")
    storage = validated_instance(INSTANCE_YAML.read_text(), tmp_path)["storage"]["postgres"]
    result = validate_config(dagster_postgres.DagsterPostgresStorage.config_type(), storage)
    assert result.success, result.errors


# --- docs/deploy/values.yaml -----------------------------------------------------------------------


def test_user_deployment_has_the_charts_required_fields() -> None:
    values = load_yaml(VALUES_YAML)
    assert values["dagster-user-deployments"]["enabled"] is True
    deployment = user_deployment()
    assert isinstance(deployment["name"], str) and deployment["name"]
    assert isinstance(deployment["port"], int)
    image = deployment["image"]
    assert isinstance(image["repository"], str) and isinstance(image["tag"], str)
    assert image["pullPolicy"] in PULL_POLICIES
    assert all(isinstance(arg, str) for arg in deployment["dagsterApiGrpcArgs"])
    assert all(isinstance(value, str) for value in deployment["env"].values())
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_the_code_server_loads_this_projects_definitions() -> None:
    args = user_deployment()["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    workspace = load_yaml(ROOT / "workspace.yaml")
    assert module == pyproject["tool"]["dagster"]["module_name"]
    assert module == workspace["load_from"][0]["python_module"]["module_name"]
    assert isinstance(importlib.import_module(module).defs, dg.Definitions)


def test_values_and_instance_describe_the_same_deployment(tmp_path: Path, pg_env: None) -> None:
    values = load_yaml(VALUES_YAML)
    deployment = user_deployment()
    instance = validated_instance(INSTANCE_YAML.read_text(), tmp_path)
    launcher = instance["run_launcher"]["config"]

    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"] == 1
    assert deployment["volumes"] == launcher["volumes"]
    assert deployment["volumeMounts"] == launcher["volume_mounts"]
    assert deployment["env"] == dict(item.split("=", 1) for item in launcher["env_vars"])
    assert [secret["name"] for secret in deployment["envSecrets"]] == launcher["env_secrets"]
    assert values["global"]["postgresqlSecretName"] == launcher["postgres_password_secret"]
    mounts = [mount["mountPath"] for mount in deployment["volumeMounts"]]
    for setting in ("ASASQL_HOME", "ASASQL_DOMAIN"):
        path = deployment["env"][setting]
        assert any(path == mount or path.startswith(mount + "/") for mount in mounts), (setting, path)


# --- docs/scaling.md -------------------------------------------------------------------------------


def test_every_yaml_block_of_the_doc_parses() -> None:
    assert all(block is not None for block in doc_yaml_blocks())


def test_chat_run_config_of_the_doc_validates_against_the_main_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from asasql_assets.definitions import defs

    monkeypatch.setenv("ASASQL_CHAT_API_KEY", "test-key")
    blocks = [b for b in doc_yaml_blocks() if isinstance(b, dict) and "chat" in b.get("resources", {})]
    assert len(blocks) == 1
    resolved = dg.validate_run_config(defs.resolve_job_def("asasql_main"), blocks[0])
    chat = resolved["resources"]["chat"]["config"]
    assert chat["backend"] == "openai" and chat["concurrency"] > 8


def test_instance_snippets_of_the_doc_pass_the_instance_schema(tmp_path: Path) -> None:
    snippets = [b for b in doc_yaml_blocks() if isinstance(b, dict) and "concurrency" in b]
    assert snippets
    for number, snippet in enumerate(snippets):
        validated_instance(yaml.safe_dump(snippet), tmp_path / str(number))


def test_k8s_executor_run_config_of_the_doc_passes_its_schema() -> None:
    dagster_k8s = pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    blocks = [b for b in doc_yaml_blocks() if isinstance(b, dict) and "execution" in b]
    assert len(blocks) == 1
    schema = dagster_k8s.k8s_job_executor.config_schema.as_field().config_type
    result = validate_config(schema, blocks[0]["execution"]["config"])
    assert result.success, result.errors


def test_every_asasql_setting_named_is_read_by_the_code() -> None:
    source = "\n".join(path.read_text() for folder in SOURCE_DIRS for path in folder.rglob("*.py"))
    named = set()
    for path in (SCALING, INSTANCE_YAML, VALUES_YAML):
        named |= set(re.findall(r"\bASASQL_[A-Z0-9_]+\b", path.read_text()))
    assert named
    missing = sorted(name for name in named if f'"{name}"' not in source)
    assert not missing, f"named in the docs but read nowhere in the code: {missing}"


def test_every_benchmark_the_doc_names_exists() -> None:
    named = set(re.findall(r"benchmarks/[a-z0-9_]+\.py", SCALING.read_text()))
    assert named
    assert not [name for name in sorted(named) if not (ROOT / name).is_file()]
