#!/usr/bin/env python3
"""Golden values for SpRAy's numerics (issue 24), from scikit-learn and SciPy in float64.

    python scripts/golden/make_spray_golden.py   # writes Tests/Fixtures/spray.safetensors

- points: 150 "heatmaps" of 8x8 values (sum 1), relevance in one of three corner regions plus noise.
- neighbours: sklearn NearestNeighbors (10 per sample, the sample itself excluded).
- eigenvalues / eigenvectors: the 8 smallest eigenvalues of the normalised Laplacian I - D^-1/2 A D^-1/2 of
  A = (K + K^T)/2 (corelay's SparseKNN), from scipy.linalg.eigh, and the eigenvectors of D^-1/2 A D^-1/2 with
  sklearn's deterministic sign flip.
- spectral_labels: sklearn SpectralClustering(affinity="precomputed") on the same A.
- kmeans_*: sklearn KMeans(n_clusters=3, n_init=10) on the points: labels and inertia.
- ward_*: sklearn AgglomerativeClustering(linkage="ward") labels and SciPy's Ward merge heights.
- ari_*: two labelings and sklearn's adjusted_rand_score.
- dbscan_*: 2-D points (three blobs and scattered noise) and sklearn DBSCAN(eps=0.3, min_samples=5) labels.
"""
import os

import numpy as np
import scipy.linalg
import torch
from safetensors.torch import save_file
from scipy.cluster.hierarchy import ward
from scipy.sparse import csr_matrix
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.extmath import _deterministic_vector_sign_flip

rng = np.random.default_rng(24)
samples, side, neighbours, components, clusters = 150, 8, 10, 8, 3
truth = np.arange(samples) % clusters
points = rng.random((samples, side, side))
for sample, group in enumerate(truth):
    row, column = [(0, 0), (0, 5), (5, 2)][group]
    points[sample, row:row + 3, column:column + 3] += 0.25 + 0.5 * rng.random((3, 3))
points = points.reshape(samples, -1)
points /= points.sum(1, keepdims=True)

nearest = NearestNeighbors(n_neighbors=neighbours + 1).fit(points)
distances, indices = nearest.kneighbors(points)
assert (indices[:, 0] == np.arange(samples)).all()
indices = indices[:, 1:]
rows = np.repeat(np.arange(samples), neighbours)
knn = csr_matrix((np.ones(samples * neighbours), (rows, indices.ravel())), shape=(samples, samples))
affinity = ((knn + knn.T) / 2).toarray()
degree = affinity.sum(1)
normalized = affinity / np.sqrt(np.outer(degree, degree))
values, vectors = scipy.linalg.eigh(normalized)
top_values = values[::-1][:components]
top_vectors = _deterministic_vector_sign_flip(vectors[:, ::-1][:, :components].T)

spectral = SpectralClustering(n_clusters=clusters, affinity="precomputed", random_state=0).fit(affinity)
kmeans = KMeans(n_clusters=clusters, n_init=10, random_state=0).fit(points)
agglomerative = AgglomerativeClustering(n_clusters=clusters, linkage="ward").fit(points)
heights = ward(points)[:, 2]
first = rng.integers(0, 4, size=60)
second = np.where(rng.random(60) < 0.7, first, rng.integers(0, 5, size=60))
blobs = np.concatenate([rng.normal(centre, 0.15, size=(40, 2)) for centre in ([0, 0], [3, 0], [0, 3])])
scattered = rng.uniform(-1.5, 4.5, size=(20, 2))
dbscan_points = np.concatenate([blobs, scattered])
dbscan = DBSCAN(eps=0.3, min_samples=5).fit(dbscan_points)

out = {
    "points": points,
    "truth": truth,
    "neighbours": indices,
    "eigenvalues": 1.0 - top_values,
    "eigenvectors": top_vectors,
    "spectral_labels": spectral.labels_,
    "kmeans_labels": kmeans.labels_,
    "kmeans_inertia": np.array([kmeans.inertia_]),
    "ward_labels": agglomerative.labels_,
    "ward_heights": heights,
    "ari_first": first,
    "ari_second": second,
    "ari_value": np.array([adjusted_rand_score(first, second)]),
    "dbscan_points": dbscan_points,
    "dbscan_labels": dbscan.labels_,
}
tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(torch.float64 if v.dtype.kind == "f" else torch.int64)
           for k, v in out.items()}
path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "spray.safetensors")
save_file(tensors, path)
print(f"wrote {len(tensors)} tensors to {os.path.normpath(path)}; ARI(spectral, truth) =",
      adjusted_rand_score(truth, spectral.labels_), "eigenvalues", np.round(1 - top_values, 4),
      "DBSCAN clusters", len(set(dbscan.labels_) - {-1}), "noise", int((dbscan.labels_ == -1).sum()))
