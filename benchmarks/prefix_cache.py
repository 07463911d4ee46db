"""One question at a time through the local backend, as `asasql serve` answers requests: prefix caching on vs off.

Run: .venv/bin/python benchmarks/prefix_cache.py [--model PATH] [--domain project_data] [--questions 24]
Each request is the evaluation's prompt (system turn, the domain's schema, then the question), greedy, up to the
SQL stop. For each test question, in turns, one answer with the model's PrefixStore (which holds the previous
request's start: the schema) and one with a store that keeps nothing; prints the seconds each way, their ratio,
the prompt tokens copied instead of computed, and how many answers are the same both ways.
"""

import argparse
import time
from pathlib import Path

from asasql_resources.domain import load_domain
from asasql_resources.models.decode import PrefixStore
from asasql_resources.models.local import LocalChatBackend
from asasql_resources.models.locate import resolve_model
from asasql_resources.models.sampling import Sampling
from asasql_resources.nl2sql.answer import SQL_MAX_NEW_TOKENS, SQL_STOP
from asasql_resources.nl2sql.prompt import domain_schema_context, nl2sql_prompt


def main() -> None:
    """Answer each question with and without kept prompt starts, in turns; print the totals and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="a model folder or GGUF (default: the bundled SmolLM2)")
    parser.add_argument("--domain", type=Path, default=Path("project_data"))
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args()
    domain = load_domain(args.domain)
    context = domain_schema_context(domain.catalog)
    dialect = domain.config.sql_dialect
    questions = domain.test_set["question"].to_list()[: args.questions]
    backend = LocalChatBackend(resolve_model(args.model, "--model"))
    loaded = backend.loaded()
    sampling = Sampling(max_new_tokens=SQL_MAX_NEW_TOKENS, stop=SQL_STOP)
    stores = {"cached": loaded.prefixes, "plain": PrefixStore(max_tokens=0)}
    backend.generate([nl2sql_prompt(context, questions[-1], dialect)], sampling)  # oneDNN builds its kernels once
    seconds = dict.fromkeys(stores, 0.0)
    answers: dict[str, list[str]] = {name: [] for name in stores}
    reused_before = stores["cached"].reused_tokens
    for question in questions:
        for name, store in stores.items():
            loaded.prefixes = store
            start = time.perf_counter()
            answers[name] += backend.generate([nl2sql_prompt(context, question, dialect)], sampling)[0]
            seconds[name] += time.perf_counter() - start
    prompt_tokens = len(loaded.tokenizer(backend.render(nl2sql_prompt(context, questions[0], dialect)))["input_ids"])
    same = sum(a == b for a, b in zip(answers["cached"], answers["plain"], strict=True))
    reused = (stores["cached"].reused_tokens - reused_before) / len(questions)
    print(f"{len(questions)} questions, one request each; a prompt is about {prompt_tokens} tokens")
    print(f"plain:          {seconds['plain']:6.1f} s  ({seconds['plain'] / len(questions):.2f} s a question)")
    print(f"prefix cache:   {seconds['cached']:6.1f} s  ({seconds['cached'] / len(questions):.2f} s a question)")
    print(f"prompt tokens copied instead of computed: {reused:.0f} a question")
    print(
        f"ratio plain/cached: {seconds['plain'] / seconds['cached']:.2f}x; same answers both ways: {same}/{len(questions)}"
    )


if __name__ == "__main__":
    main()
