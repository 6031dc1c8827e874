"""Cluster labels (`config.clusters`, gan_jax/clusters.py): k-means finds separated groups, G's
labels follow the clusters' shares, and a run keeps those shares in its checkpoint."""
import numpy as np
import pytest

from gan_jax import clusters


def _blobs(seed=0):
  rng = np.random.default_rng(seed)
  centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], np.float32)
  truth = rng.permutation(np.repeat(np.arange(4), [50, 100, 150, 200]))
  return centres[truth] + rng.normal(0, 0.5, (len(truth), 3)).astype(np.float32), truth


def test_kmeans_recovers_separated_groups_and_is_a_function_of_its_seed():
  x, truth = _blobs()
  centres, assign = clusters.kmeans(x, 4, seed=0)
  # The same partition up to the clusters' order: every cluster is one group, and back.
  pairs = set(zip(assign.tolist(), truth.tolist()))
  assert len(pairs) == 4 and len({a for a, _ in pairs}) == 4
  for a, t in pairs:
    np.testing.assert_allclose(centres[a], x[truth == t].mean(0), atol=1e-4)
  np.testing.assert_array_equal(clusters.kmeans(x, 4, seed=0)[1], assign)


def test_kmeans_keeps_every_cluster_in_use():
  x, _ = _blobs()
  _, assign = clusters.kmeans(x, 9, seed=1)  # More clusters than groups.
  assert set(assign.tolist()) == set(range(9))
  with pytest.raises(ValueError, match='k=0'):
    clusters.kmeans(x, 0, seed=0)


def test_relabel_replaces_labels_with_clusters_and_their_shares():
  x, truth = _blobs()
  images = np.clip(x * 20 + 30, 0, 255).astype(np.uint8).reshape(-1, 3, 1, 1)
  data = clusters.relabel({'image': images, 'label': truth * 0, 'num_classes': 1}, 4, seed=0)
  assert data['num_classes'] == 4 and data['label'].dtype == np.int32
  np.testing.assert_allclose(data['label_probs'], np.bincount(data['label']) / len(truth))
  assert sorted(np.round(data['label_probs'] * len(truth)).astype(int)) == [50, 100, 150, 200]


def test_stratified_labels_follow_the_shares_without_sampling_noise():
  labels = clusters.stratified_labels(np.array([0.5, 0.3, 0.2]), 10)
  np.testing.assert_array_equal(np.bincount(labels, minlength=3), [5, 3, 2])
  np.testing.assert_array_equal(np.bincount(clusters.stratified_labels([1, 0, 3], 8)), [2, 0, 6])


def test_g_draws_its_labels_from_the_shares_in_its_state():
  import jax
  from gan_jax import steps
  from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
  import optax
  state = steps.create_state(
      generator=MLPGenerator(output_shape=(2,), hidden=(4,), num_classes=3),
      discriminator=MLPDiscriminator(hidden=(4,), num_classes=3), g_tx=optax.sgd(0.1),
      d_tx=optax.sgd(0.1), data_shape=(2,), rng=jax.random.key(0), latent_dim=2,
      num_classes=3, label_probs=[0.7, 0.0, 0.3])
  counts = np.bincount(steps._random_labels(state, jax.random.key(1), 4000, None), minlength=3)
  assert counts[1] == 0 and abs(counts[0] / 4000 - 0.7) < 4 * (0.21 / 4000) ** 0.5


def test_a_run_on_clusters_keeps_their_shares_for_evaluation(tiny_config, tmp_path):
  """Trained on k-means clusters of MNIST (no labels read), the checkpoint carries the clusters'
  shares: the evaluation draws G's labels by them, and reports no label accuracy."""
  from gan_jax import checkpoints, evaluate, input_pipeline, train
  config = tiny_config('dcgan', clusters=4, num_train_steps=6)
  train.train_and_evaluate(config, str(tmp_path))
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  shares = clusters.relabel(data, 4, seed=config.seed)['label_probs']
  _, state = checkpoints.load_workdir(str(tmp_path))
  assert state.num_classes == 4
  np.testing.assert_allclose(state.label_probs, shares)  # Not the uniform placeholder.
  assert shares.max() - shares.min() > 0.05  # MNIST's pixel clusters are uneven.
  _, labels = evaluate.generate_samples(state, 100)
  np.testing.assert_array_equal(np.sort(labels), clusters.stratified_labels(shares, 100))
  assert len(set(labels[:50].tolist())) == 4  # Mixed: the score's splits each see all clusters.
  results = evaluate.evaluate(config, state, num_samples=100, metrics=['classifier'])
  assert 'fcd' in results and 'label_accuracy' not in results
