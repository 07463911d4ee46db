"""One question at a time with the fine-tuned model, as `asasql predict` answers: prompt lookup on vs off.

Run: .venv/bin/python benchmarks/lookup_decoding.py [--home .asasql] [--domain project_data] [--questions 24]
Needs a home where `asasql run` (make demo) has trained nl2sql_model. For each of the domain's first test
questions, in turns, one answer with prompt-lookup drafts (`decode.LOOKUP_TOKENS`) and one without (0); prints
the seconds each way, their ratio, and how many answers are the same both ways.
"""

import argparse
import time
from pathlib import Path

from asasql_assets.cli.model import load_predictor
from asasql_resources.models import decode
from asasql_resources.warehouse import Home, resolve_home


def main() -> None:
    """Answer each question with and without drafts, in turns; print the totals and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None, help="ASASQL_HOME of a finished run (default: $ASASQL_HOME)")
    parser.add_argument("--domain", type=Path, default=Path("project_data"))
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args()
    predictor, domain = load_predictor(Home(resolve_home(args.home)), args.domain)
    questions = domain.test_set["question"].to_list()[: args.questions]
    predictor.answer(questions[:1])  # oneDNN builds its kernels once per process
    settings = {"lookup": decode.LOOKUP_TOKENS, "plain": 0}
    seconds = dict.fromkeys(settings, 0.0)
    answers: dict[str, list[str | None]] = {name: [] for name in settings}
    for question in questions:
        for name, tokens in settings.items():
            decode.LOOKUP_TOKENS = tokens
            start = time.perf_counter()
            answers[name] += predictor.answer([question])
            seconds[name] += time.perf_counter() - start
    same = sum(a == b for a, b in zip(answers["lookup"], answers["plain"], strict=True))
    print(f"{len(questions)} questions, one at a time; draft tokens per forward: {settings['lookup']}")
    print(f"plain decode:   {seconds['plain']:6.1f} s  ({seconds['plain'] / len(questions):.2f} s a question)")
    print(f"prompt lookup:  {seconds['lookup']:6.1f} s  ({seconds['lookup'] / len(questions):.2f} s a question)")
    print(
        f"ratio plain/lookup: {seconds['plain'] / seconds['lookup']:.2f}x; same SQL both ways: {same}/{len(questions)}"
    )


if __name__ == "__main__":
    main()
