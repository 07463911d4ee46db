"""SQL sandbox: parse-level policy, locked DuckDB instances, execution in a bounded worker process, and the resource."""

from asasql_resources.sandbox.instance import build_instance, infer_type, lock_down
from asasql_resources.sandbox.policy import SqlCheck, check_sql
from asasql_resources.sandbox.resource import SqlSandbox
from asasql_resources.sandbox.runner import ExecResult, SandboxSession

__all__ = [
    "ExecResult",
    "SandboxSession",
    "SqlCheck",
    "SqlSandbox",
    "build_instance",
    "check_sql",
    "infer_type",
    "lock_down",
]
