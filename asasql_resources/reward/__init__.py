"""The reward model: its pair format, model, scoring and training."""
