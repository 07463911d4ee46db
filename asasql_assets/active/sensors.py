"""The sensor that imports a returned annotation workbook by launching its round's labeled_rounds."""

import dagster as dg

from asasql_assets.active.assets import labeled_rounds
from asasql_assets.partitions import ROUNDS, checked_round
from asasql_resources.annotation import Annotator, workbook_status
from asasql_resources.warehouse import WarehouseIOManager


@dg.sensor(
    asset_selection=[labeled_rounds],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches $ASASQL_HOME/annotations: a complete round_<n>.xlsx launches labeled_rounds[round_<n>] "
    "(workbook annotator only).",
)
def annotation_workbooks(
    context: dg.SensorEvaluationContext, annotator: Annotator, io_manager: dg.ResourceParam[WarehouseIOManager]
) -> dg.SensorResult | dg.SkipReason:
    """One run request per complete workbook of a known round; the run key holds the file's mtime."""
    if annotator.kind != "workbook":
        return dg.SkipReason(f"the annotator is {annotator.kind!r}; workbooks are imported only for 'workbook'")
    folder = io_manager.layout.annotations
    known = set(context.instance.get_dynamic_partitions(ROUNDS.name))
    requests, waiting = [], []
    for path in sorted(folder.glob("round_*.xlsx")):
        try:
            checked_round(path.stem)  # round_<digits> only: the stem becomes a partition key and file names
        except ValueError:
            continue
        if not path.is_file():
            continue
        status = workbook_status(path)
        if path.stem not in known or not status.complete:
            waiting.append(f"{path.name}: {status.labeled}/{status.rows} labeled")
            continue
        requests.append(dg.RunRequest(run_key=f"{path.stem}:{path.stat().st_mtime_ns}", partition_key=path.stem))
    if not requests:
        return dg.SkipReason("no complete workbook" + (f" ({'; '.join(waiting)})" if waiting else ""))
    return dg.SensorResult(run_requests=requests)
