"""Evaluation: the shared NL2SQL prompt, greedy SQL prediction and execution accuracy on the test set."""
