"""Progress lines: done/total, the rate, and the time left while work remains."""

import re

from asasql_assets.progress import progress_line


def test_progress_lines_give_rate_and_time_left() -> None:
    lines: list[str] = []
    report = progress_line(lines.append, "nl2sql_candidates", "prompts")
    report(8, 32)
    report(32, 32)
    assert re.fullmatch(r"nl2sql_candidates: 8/32 prompts \(\d+\.\d\d prompts/s, about \d+ s left\)", lines[0])
    assert re.fullmatch(r"nl2sql_candidates: 32/32 prompts \(\d+\.\d\d prompts/s\)", lines[1])
