"""The NL2SQL model: its prompt, answer parsing, example bank, prediction, fine-tune and base resource."""
