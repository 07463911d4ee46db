"""Operations over embedding vectors: near-duplicate removal and k-means."""
