"""Stage 1 synthesis: forward questions, SQL candidates and the columns they use."""
