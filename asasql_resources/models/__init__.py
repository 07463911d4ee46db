"""Models as resources: chat (local or OpenAI-compatible), embedder, and the reward-model base."""
