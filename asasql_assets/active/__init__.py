"""Stage 2 active learning: rounds, reward scores, clusters, labels and the reward model."""
