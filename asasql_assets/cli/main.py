"""Argument parsing and dispatch of the asasql commands."""

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ANNOTATORS = ("reference", "workbook", "judge", "none")


def _command(name: str) -> ModuleType:
    """A command's module, imported only when it runs (so `asasql validate` does not load torch)."""
    return importlib.import_module(f"asasql_assets.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every asasql subcommand."""
    parser = argparse.ArgumentParser(
        prog="asasql", description="ASASQL: active data synthesis and annotation for NL2SQL."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a domain folder (exit 2 on errors)")
    validate.add_argument("domain", type=Path)
    validate.add_argument(
        "--annotator",
        choices=ANNOTATORS,
        default=None,
        help="also check what this annotator needs (reference: a gold bank)",
    )
    validate.set_defaults(handler=lambda a: _command("inspect").validate(a.domain, a.annotator))

    init = commands.add_parser("init", help="write a template domain folder (workbook, samples, domain.yaml)")
    init.add_argument("directory", type=Path, help="a new or empty folder")
    init.add_argument(
        "--force", action="store_true", help="write into a non-empty folder, overwriting the template's files there"
    )
    init.set_defaults(handler=lambda a: _command("init").init(a.directory, a.force))

    sql = commands.add_parser("sql", help="run a read-only query on the warehouse")
    sql.add_argument("query")
    sql.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--max-rows", type=int, default=40, help="rows shown in table format")
    sql.set_defaults(handler=lambda a: _command("inspect").sql(a.query, a.home, a.format, a.max_rows))

    main_job = commands.add_parser("run", help="materialize the pipeline through Dagster")
    main_job.add_argument(
        "--domain", type=Path, default=None, help="domain folder (default $ASASQL_DOMAIN or project_data)"
    )
    main_job.add_argument("--rounds", type=int, default=2, help="active-learning rounds")
    main_job.add_argument("--annotator", choices=ANNOTATORS, default="reference")
    main_job.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    main_job.add_argument(
        "--target-accuracy", type=float, default=None, help="stop early once a round's reward model reaches it"
    )
    main_job.set_defaults(
        handler=lambda a: _command("run").run(a.domain, a.rounds, a.annotator, a.home, a.target_accuracy)
    )

    round_cmd = commands.add_parser("round", help="active-learning rounds")
    round_actions = round_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = round_actions.add_parser("new", help="add the next round partition and print its key")
    new.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    new.set_defaults(handler=lambda a: _command("rounds").new_round(a.home, None))

    annotate = commands.add_parser("annotate", help="annotation workbooks of a round")
    annotate_actions = annotate.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = annotate_actions.add_parser("export", help="write annotations/ROUND.xlsx from the round's selection")
    export.add_argument("round", help="a round key such as round_0")
    export.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    export.add_argument("--overwrite", action="store_true", help="replace a workbook that already has labels")
    export.set_defaults(handler=lambda a: _command("rounds").export(a.round, a.home, a.overwrite))
    imported = annotate_actions.add_parser("import", help="validate annotations/ROUND.xlsx and label the round from it")
    imported.add_argument("round", help="a round key such as round_0")
    imported.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    imported.add_argument(
        "--domain", type=Path, default=None, help="domain folder (default $ASASQL_DOMAIN or project_data)"
    )
    imported.set_defaults(handler=lambda a: _command("rounds").import_labels(a.round, a.home, a.domain))
    exported = commands.add_parser("export", help="write filtered_dataset for training elsewhere (LLaMA-Factory, trl)")
    exported.add_argument("out", type=Path, help="the file to write")
    exported.add_argument("--format", choices=("jsonl", "alpaca", "sharegpt"), default="jsonl")
    exported.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    exported.add_argument(
        "--domain", type=Path, default=None, help="domain folder (default $ASASQL_DOMAIN or project_data)"
    )
    exported.set_defaults(handler=lambda a: _command("model").export(a.format, a.out, a.home, a.domain))

    predicted = commands.add_parser("predict", help="SQL for a question from the latest nl2sql_model")
    predicted.add_argument("question", nargs="?", default=None)
    predicted.add_argument("--execute", action="store_true", help="also run the SQL in the sandbox and print the rows")
    predicted.add_argument("--file", type=Path, default=None, help='a JSON array of {"question": ...} objects')
    predicted.add_argument("--out", type=Path, default=None, help='write [{"question", "sql"}] here (with --file)')
    predicted.add_argument("--home", type=Path, default=None, help="ASASQL_HOME (default $ASASQL_HOME or .asasql)")
    predicted.add_argument(
        "--domain", type=Path, default=None, help="domain folder (default $ASASQL_DOMAIN or project_data)"
    )
    predicted.set_defaults(
        handler=lambda a: _command("model").predict(a.question, a.file, a.out, a.execute, a.home, a.domain)
    )

    served = commands.add_parser("serve", help="serve a local chat model over an OpenAI-compatible API")
    served.add_argument(
        "--model",
        default="",
        help="smollm2, a local HF folder or .gguf file (default: the embedded Qwen2.5-Coder-0.5B-Instruct)",
    )
    served.add_argument("--host", default="127.0.0.1")
    served.add_argument("--port", type=int, default=8000)
    served.add_argument("--batch-size", type=int, default=16, help="sequences per batched generate call")
    served.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N or mps")
    served.add_argument("--max-queue", type=int, default=64, help="requests held at once; more are answered 429")
    served.set_defaults(
        handler=lambda a: _command("serve").serve_model(a.model, a.host, a.port, a.batch_size, a.device, a.max_queue)
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the asasql console script."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `asasql sql ... | head` ends quietly, as other tools do
    args = build_parser().parse_args(argv)
    sys.exit(args.handler(args))
