"""Tests for gan_jax.evaluation: Inception reference output, FID / KID / precision-recall maths."""
import numpy as np
import pytest

from gan_jax.evaluation import fid
from gan_jax.evaluation import inception


def _weights_dir():
  try:
    return inception.find_data_dir()
  except FileNotFoundError:
    return None


needs_weights = pytest.mark.skipif(
    _weights_dir() is None,
    reason=f'{inception.WEIGHTS_FILE} not found: set GAN_JAX_DATA_DIR to the data folder')


@pytest.fixture(scope='module')
def params():
  return inception.load_inception_params()


@needs_weights
def test_inception_matches_reference(params):
  from PIL import Image
  ref_dir = _weights_dir() / 'inception_fid' / 'reference'
  image = np.asarray(Image.open(ref_dir / 'elefant.jpg').convert('RGB'))
  expected = np.load(ref_dir / 'elefant_inception_output.npy').reshape(1, -1)
  out = np.asarray(inception.apply_jit(params, image[None]))  # fed at 256x256, no resize
  assert out.shape == (1, 2048) and out.dtype == np.float32
  assert np.abs(out - expected).mean() <= 1e-5


@needs_weights
def test_grayscale_folding_matches_tiled_rgb(params):
  gray = np.random.default_rng(0).integers(0, 256, (2, 80, 80, 1), np.uint8)
  folded = np.asarray(inception.apply_jit(params, gray))
  tiled = np.asarray(inception.apply_jit(params, np.tile(gray, (1, 1, 1, 3))))
  np.testing.assert_allclose(folded, tiled, atol=1e-4)


def test_frechet_distance_diagonal_closed_form():
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
  s1, s2 = rng.uniform(0.1, 2, 16), rng.uniform(0.1, 2, 16)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
  got = fid.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_frechet_distance_identical_is_zero():
  x = np.random.default_rng(1).normal(size=(500, 32))
  mu, sigma = fid.feature_statistics(x)
  assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_frechet_distance_singular_covariance_is_finite():
  x = np.random.default_rng(2).normal(size=(10, 32))  # fewer samples than dimensions
  y = np.random.default_rng(3).normal(size=(10, 32))
  assert np.isfinite(fid.fid_from_features(x, y))


def _features(seed, n, shift=0.0, d=64):
  # Inception features are non-negative (post-ReLU means); mimic that.
  return np.abs(np.random.default_rng(seed).normal(size=(n, d))) + shift


def test_kid_same_distribution_near_zero_and_shift_positive():
  a, b = _features(0, 400), _features(1, 400)
  mean, std = fid.kernel_inception_distance(a, b, num_subsets=20, subset_size=200)
  assert abs(mean) <= 3 * std + 1e-6
  shifted_mean, shifted_std = fid.kernel_inception_distance(
      a, _features(2, 400, shift=0.5), num_subsets=20, subset_size=200)
  assert shifted_mean > 10 * max(shifted_std, abs(mean))


def test_precision_recall_identical_and_disjoint():
  a = _features(0, 300, d=16)
  assert fid.precision_recall(a, a.copy(), chunk=128) == (1.0, 1.0)
  precision, recall = fid.precision_recall(a, _features(1, 300, shift=50.0, d=16), chunk=128)
  assert precision < 0.05 and recall < 0.05


def test_grayscale_to_rgb_and_resize_shapes():
  gray = np.full((2, 28, 28, 1), 0.5, np.float32)
  pre = np.asarray(fid.preprocess(gray))
  assert pre.shape == (2, 299, 299, 3)
  # 0.5 in [-1, 1] is the uint8 value round(1.5 * 127.5) = 191 (half up), constant after resize.
  np.testing.assert_allclose(pre, 191.0, atol=1e-3)
  rgb = np.random.default_rng(0).integers(0, 256, (1, 299, 299, 3), np.uint8)
  np.testing.assert_array_equal(np.asarray(fid.preprocess(rgb)), rgb.astype(np.float32))


def test_to_uint8_values_rounds_like_uint8():
  x = np.array([-1.0, -0.999, 0.0, 1.0, 1.5], np.float32).reshape(1, 1, 5, 1)
  np.testing.assert_array_equal(np.asarray(fid.to_uint8_values(x)).ravel(), [0, 0, 128, 255, 255])


@needs_weights
def test_extract_features_pads_last_batch(params):
  images = np.random.default_rng(0).integers(0, 256, (3, 75, 75, 3), np.uint8)
  # Feed at 75x75 by calling the network directly batch-by-batch vs extract_features' padding.
  direct = np.asarray(inception.apply_jit(params, fid.resize(fid.to_uint8_values(images))))
  feats = fid.extract_features(images, params=params, batch_size=2, progress=False)
  assert feats.shape == (3, 2048)
  np.testing.assert_allclose(feats, direct, atol=1e-4)


def test_reference_statistics_cache(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return _features(0, 50, d=8)

  kw = dict(dataset='toy', split='test', count=50, cache_dir=tmp_path)
  first = fid.reference_statistics(compute, **kw)
  second = fid.reference_statistics(compute, **kw)
  assert len(calls) == 1
  np.testing.assert_array_equal(first['sigma'], second['sigma'])
  assert first['features'].shape == (50, 8)


def test_read_idx_roundtrip(tmp_path):
  import gzip
  from gan_jax.evaluation import idx
  images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  header = bytes([0, 0, 0x08, 3]) + np.array(images.shape, '>u4').tobytes()
  path = tmp_path / 'x-images-idx3-ubyte.gz'
  with gzip.open(path, 'wb') as f:
    f.write(header + images.tobytes())
  np.testing.assert_array_equal(idx.read_idx(path), images)
