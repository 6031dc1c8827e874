"""Input pipeline: a tfds split held in host memory and read by position.

Why in memory and by position: the GAN data sets this codebase targets (MNIST, Fashion-MNIST,
CIFAR-10, small face sets) fit in host RAM, and a batch that is a pure function of
(seed, global batch index) makes resume exact with no iterator state in the checkpoint, and makes
the global batch independent of how many processes and devices share it.

Offline first: a prepared tfds data_dir is used as is; otherwise the original files in
`$GAN_JAX_DATA_DIR/<dataset>/` are prepared with tfds' own builder (checksums verified by tfds);
otherwise tfds downloads, but only after a quick network probe, so that a machine without network
gets one clear error within seconds instead of tfds' ~200 s retry loop.

Decoded once: a whole split's arrays are kept per process and written beside tfds' files
(`decoded_file`), which later processes read instead of decoding the images again, without
importing tfds or TensorFlow.
"""
import functools
import os
import pathlib
import socket
import threading
import zipfile
from typing import Any, Dict, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from gan_jax import data_dir
from gan_jax import sources

TFDS_DIR_ENV = 'TFDS_DATA_DIR'

# What `$GAN_JAX_DATA_DIR/<dataset>/` must hold for an offline preparation (tfds' file names).
_EXPECTED_FILES = {
    name: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz',
           't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    for name in ('mnist', 'fashion_mnist')
}


def default_tfds_dir() -> str:
  return os.environ.get(TFDS_DIR_ENV) or os.path.expanduser('~/tensorflow_datasets')


def _network_reachable(host: str = 'storage.googleapis.com', timeout: float = 5.0) -> bool:
  """A bounded probe: DNS and TCP to tfds' download host, in a thread we never wait on long."""
  result = []

  def probe():
    try:
      socket.create_connection((host, 443), timeout=timeout).close()
      result.append(True)
    except OSError:
      result.append(False)

  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(timeout + 1)
  return bool(result and result[0])


@functools.cache
def _tensorflow():
  """TensorFlow (tfds reads and prepares through it; ~5 s to import here, so only the paths
  that need it pay), kept off any accelerator so that JAX has them all. Once per process: after
  TensorFlow's first op its visible devices are fixed."""
  import tensorflow as tf
  for kind in ('GPU', 'TPU'):
    try:
      tf.config.experimental.set_visible_devices([], kind)
    except RuntimeError:  # TensorFlow ran before, and its devices are fixed.
      pass
  return tf


def get_builder(name: str, *, tfds_dir: Optional[str] = None, local_mirror: Optional[str] = None):
  """Returns a prepared tfds builder for `name`, preparing it offline when it can."""
  _tensorflow()
  import tensorflow_datasets as tfds
  tfds_dir = tfds_dir or default_tfds_dir()
  builder = tfds.builder(name, data_dir=tfds_dir)
  if builder.is_prepared():
    return builder
  mirror = pathlib.Path(local_mirror) if local_mirror else data_dir.default_local_mirror()
  manual_dir = mirror / name if mirror else None
  expected = _EXPECTED_FILES.get(name)
  if manual_dir and manual_dir.is_dir() and (
      expected is None or all((manual_dir / f).exists() for f in expected)):
    logging.info('Preparing %s into %s from local files in %s', name, tfds_dir, manual_dir)
    # A download_dir of its own per dataset: tfds caches extracted manual files by file name
    # alone, so MNIST and Fashion-MNIST (same IDX names) would otherwise share one extraction.
    builder.download_and_prepare(
        download_dir=os.path.join(tfds_dir, 'downloads', 'gan_jax_manual', name),
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir), try_download_gcs=False))
    return builder
  if os.environ.get('GAN_JAX_OFFLINE') or not _network_reachable():
    files = ', '.join(expected) if expected else "the files tfds' builder downloads"
    raise data_dir.DataUnavailableError(
        f'Dataset {name!r} is not prepared in {tfds_dir} and there is no network. '
        f'Put the original files ({files}) in ${data_dir.DATA_DIR_ENV}/{name}/ '
        f'(now {data_dir.DATA_DIR_ENV}={os.environ.get(data_dir.DATA_DIR_ENV, "<unset>")}) '
        f'or a prepared tfds data_dir in ${TFDS_DIR_ENV}.')
  builder.download_and_prepare()
  return builder


def _resize(images: np.ndarray, size: int, method: str) -> np.ndarray:
  """uint8 NHWC -> uint8 NHWC at `size`; 'pad' centres the image on a black border."""
  h = images.shape[1]
  if h == size:
    return images
  if method == 'pad':
    lo = (size - h) // 2
    if lo < 0:
      raise ValueError(f'Cannot pad {h}x{h} images to {size}x{size}.')
    return np.pad(images, ((0, 0), (lo, size - h - lo), (lo, size - h - lo), (0, 0)))
  out = _tensorflow().image.resize(images, (size, size), method=method, antialias=True)
  return np.clip(np.round(out.numpy()), 0, 255).astype(np.uint8)


# Decoded tfds splits, by (name, split, tfds_dir, local_mirror). Decoding MNIST's 60,000 PNGs
# takes ~4.5 s, and training, in-training evaluation, sampling and the tests load the same split
# again within one process. Read-only arrays: no caller can change what the next one gets.
_DECODED: Dict[tuple, Dict[str, Any]] = {}


def decoded_file(builder, split: str) -> Optional[str]:
  """Where a whole split's decoded arrays are kept beside tfds' own files, so that later
  processes read them instead of decoding again (MNIST's train split: 0.5 s with the builder,
  against 4.4 s); None for sub-splits ('train[:10%]')."""
  if split not in builder.info.splits:
    return None
  return os.path.join(os.fspath(builder.data_dir), 'gan_jax_decoded', f'{split}.npz')


def _read_decoded(path: str, num_examples: Optional[int]) -> Optional[Dict[str, np.ndarray]]:
  try:
    with np.load(path) as f:
      arrays = {k: f[k] for k in f.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile):
    return None  # Missing, or a damaged file: decode again (and rewrite it).
  if 'image' not in arrays or num_examples not in (None, len(arrays['image'])):
    return None
  return arrays


def _write_decoded(path: str, arrays: Dict[str, np.ndarray]) -> None:
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data_dir.save_npz(path, arrays)
  except OSError as e:  # E.g. a read-only data_dir: decoding each time is only slower.
    logging.info('Not keeping decoded arrays at %s: %s', path, e)


def decoded_file_without_tfds(name: str, split: str,
                              tfds_dir: Optional[str] = None) -> Optional[str]:
  """The decoded file of the one prepared version of `name`, found without importing tfds (and
  with it TensorFlow: ~5 s of every process start here); None when there is none (e.g. a
  sub-split, 'train[:10%]') or more than one version has one (tfds' builder decides then)."""
  if '[' in split:
    return None
  found = list(pathlib.Path(tfds_dir or default_tfds_dir(), name).glob(
      f'*/gan_jax_decoded/{split}.npz'))
  return str(found[0]) if len(found) == 1 else None


def _decoded_without_tfds(name: str, split: str, tfds_dir: str) -> Optional[Dict[str, Any]]:
  path = decoded_file_without_tfds(name, split, tfds_dir)
  arrays = path and _read_decoded(path, None)
  return arrays if arrays and 'num_classes' in arrays else None  # Else damaged or older.


def _tfds_split(name: str, split: str, tfds_dir: str, local_mirror: Optional[str]):
  key = (name, split, tfds_dir, local_mirror)
  if key not in _DECODED:
    arrays = _decoded_without_tfds(name, split, tfds_dir)
    if arrays is None:
      import tensorflow_datasets as tfds
      builder = get_builder(name, tfds_dir=tfds_dir, local_mirror=local_mirror)
      features = builder.info.features
      path = decoded_file(builder, split)
      arrays = path and _read_decoded(path, builder.info.splits[split].num_examples)
      if not arrays or 'num_classes' not in arrays:
        decoded = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        arrays = {'image': decoded['image'], 'num_classes': np.int64(
            features['label'].num_classes if 'label' in features else 0)}
        if 'label' in features:
          arrays['label'] = decoded['label'].astype(np.int32)
        if path:
          _write_decoded(path, arrays)
    data = {
        'image': arrays['image'],
        'label': arrays.get('label'),
        'num_classes': int(arrays['num_classes']),
    }
    for array in (data['image'], data['label']):
      if array is not None:
        array.flags.writeable = False
    _DECODED[key] = data
  return dict(_DECODED[key])


def load_split(dataset: ml_collections.ConfigDict, *, split: Optional[str] = None,
               image_size: Optional[int] = None) -> Dict[str, Any]:
  """Loads a whole split into host memory.

  Returns a dict with `image` (N, H, W, C) uint8, `label` (N,) int32 or None and `num_classes`
  (0 without labels).
  """
  name = dataset.name
  split = split or dataset.split
  if name in sources.SOURCES:  # Data sets that are not tfds (generated toys, small face sets).
    data = sources.SOURCES[name](dataset, split)
  else:
    data = _tfds_split(name, split, dataset.get('tfds_dir') or default_tfds_dir(),
                       dataset.get('local_mirror'))
  if image_size and data['image'].ndim == 4:
    data['image'] = _resize(data['image'], image_size, dataset.get('resize', 'bilinear'))
  return data


def to_model_range(images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [-1, 1], the range of the generator's tanh."""
  return images.astype(np.float32) / 127.5 - 1.0


@functools.lru_cache(maxsize=4)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  """The order of epoch `epoch`, drawn once: drawing MNIST's 60,000 anew for every batch took
  0.6-1.7 ms of host time per train step, on the cores the step itself runs on."""
  perm = np.random.default_rng([seed, epoch]).permutation(num_examples)
  perm.flags.writeable = False
  return perm


def global_batch_indices(num_examples: int, batch_size: int, batch_index: int,
                         seed: int) -> np.ndarray:
  """Example indices of global batch `batch_index`: epoch-wise shuffles drawn from (seed, epoch).

  A pure function of its arguments, so any batch can be recomputed after a restart. Batches may
  straddle an epoch boundary.
  """
  start = batch_index * batch_size
  positions = np.arange(start, start + batch_size)
  epochs = positions // num_examples
  out = np.empty(batch_size, np.int64)
  for epoch in np.unique(epochs):
    perm = _epoch_permutation(num_examples, seed, int(epoch))
    mask = epochs == epoch
    out[mask] = perm[positions[mask] % num_examples]
  return out


def get_batch(data: Dict[str, Any], *, batch_size: int, batch_index: int, seed: int,
              process_index: Optional[int] = None,
              process_count: Optional[int] = None) -> Dict[str, np.ndarray]:
  """This process's share of global batch `batch_index`, as model inputs.

  Each process takes a disjoint, contiguous slice of the global batch, so the global batch is the
  same whatever the number of processes.
  """
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  idx = global_batch_indices(len(data['image']), batch_size, batch_index, seed)
  per_process = batch_size // process_count
  idx = idx[process_index * per_process:(process_index + 1) * per_process]
  images = data['image'][idx]
  batch = {'image': to_model_range(images) if images.dtype == np.uint8 else images}
  if data.get('label') is not None:
    batch['label'] = data['label'][idx]
  return batch

