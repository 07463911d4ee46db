"""Near-duplicate removal and k-means over embedding rows, with faiss and bounded memory."""

import faiss
import numpy as np

BLOCK_ROWS = 1024
TOLERANCE = 1e-6


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """A float32, C-contiguous, L2-normalised copy of a 2-D array (zero rows stay zero)."""
    if vectors.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {vectors.shape}")
    rows = np.array(vectors, dtype=np.float32, order="C", copy=True)
    faiss.normalize_L2(rows)
    return rows


def near_duplicate_groups(vectors: np.ndarray, threshold: float) -> list[int]:
    """For each row, the kept row it is folded into (itself when kept), greedy in input order.

    A row is dropped when its cosine similarity to an earlier kept row is >= threshold (with a 1e-6
    allowance for float32 rounding, so exact duplicates fold at threshold 1.0); it then points at the most
    similar earlier kept row. Rows are compared against the kept rows in blocks of BLOCK_ROWS, so memory
    is O(n * dim + BLOCK_ROWS**2), never n x n.
    """
    rows = _unit_rows(vectors)
    groups = list(range(len(rows)))
    kept_index = faiss.IndexFlatIP(rows.shape[1])
    kept_ids: list[int] = []
    for start in range(0, len(rows), BLOCK_ROWS):
        block = rows[start : start + BLOCK_ROWS]
        best_sims = np.full(len(block), -np.inf, dtype=np.float32)
        best_ids = np.full(len(block), -1, dtype=np.int64)
        if kept_index.ntotal:
            sims, slots = kept_index.search(block, 1)
            best_sims, best_ids = sims[:, 0], np.asarray(kept_ids, dtype=np.int64)[slots[:, 0]]
        within = block @ block.T
        block_kept: list[int] = []
        for offset in range(len(block)):
            best_sim, best_id = float(best_sims[offset]), int(best_ids[offset])
            if block_kept:
                local_sims = within[offset, block_kept]
                local = int(np.argmax(local_sims))
                if local_sims[local] > best_sim:
                    best_sim, best_id = float(local_sims[local]), start + block_kept[local]
            if best_id >= 0 and best_sim >= threshold - TOLERANCE:
                groups[start + offset] = best_id
            else:
                block_kept.append(offset)
        kept_index.add(block[block_kept])
        kept_ids.extend(start + offset for offset in block_kept)
    return groups


def keep_mask(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """A boolean array, True for each row near_duplicate_groups keeps."""
    groups = near_duplicate_groups(vectors, threshold)
    return np.array(groups, dtype=np.int64) == np.arange(len(groups))


def kmeans(vectors: np.ndarray, k: int, seed: int = 0, *, niter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means with faiss: (int64 cluster per row, float32 centroids); k is clipped to the row count."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    rows = _unit_rows(vectors)
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, rows.shape[1]), dtype=np.float32)
    clusters = min(k, len(rows))
    model = faiss.Kmeans(
        rows.shape[1], clusters, niter=niter, seed=seed, spherical=True, min_points_per_centroid=1, verbose=False
    )
    model.train(rows)
    _, assignments = model.index.search(rows, 1)
    return assignments[:, 0].astype(np.int64), np.asarray(model.centroids, dtype=np.float32)
