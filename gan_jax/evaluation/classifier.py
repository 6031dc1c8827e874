"""A small MNIST / Fashion-MNIST classifier, the feature extractor of the classifier-based metrics.

Inception features are a poor fit for 28x28 grey digits, so, as is common for MNIST GANs, sample
quality is also measured with a classifier trained on the real data: its class posteriors give
the classifier score and the label accuracy of conditional samples, and its penultimate features
give the Frechet classifier distance and the feature-space nearest neighbours.

Train (weights are committed as package data, so this is only needed to reproduce them):

  python -m gan_jax.evaluation.classifier --dataset=mnist --seed=0

Use:

  classify, params = load_classifier('mnist')
  logits, features = classify(params, images)  # images: (N, H, W, C) float in [-1, 1].
"""
import functools
import json
import pathlib
import sys
import time
from typing import Any, Callable, Dict, Optional, Tuple

from absl import logging
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from gan_jax import input_pipeline

IMAGE_SIZE = 28
NUM_CLASSES = 10
FEATURE_DIM = 128
WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / 'weights'


class CNN(nn.Module):
  """Three conv/pool stages, then a 128-d ReLU feature layer and the class logits.

  Small on purpose: ~240k parameters (under 0.5 MB in float16) and fast on CPU, yet above 99%
  on MNIST. Dropout only regularises training; evaluation is deterministic.
  """
  num_classes: int = NUM_CLASSES
  feature_dim: int = FEATURE_DIM
  dropout: float = 0.3

  @nn.compact
  def __call__(self, x, *, train: bool = False):
    for width, pool_padding in ((32, 'SAME'), (64, 'SAME'), (128, 'VALID')):
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      # 28 -> 14 -> 7 -> 3: the last pool is VALID to keep the dense layer (and the file) small.
      x = nn.max_pool(x, (2, 2), (2, 2), padding=pool_padding)
    x = x.reshape(x.shape[0], -1)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(features)
    logits = nn.Dense(self.num_classes, name='logits')(x)
    return logits, features


MODEL = CNN()


def preprocess(images: jnp.ndarray) -> jnp.ndarray:
  """(N, H, W, C) in [-1, 1] -> (N, 28, 28, 1) float32: RGB to grey, then resize to 28."""
  images = jnp.asarray(images, jnp.float32)
  if images.shape[-1] != 1:
    images = images.mean(axis=-1, keepdims=True)
  if images.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
    images = jax.image.resize(images, (images.shape[0], IMAGE_SIZE, IMAGE_SIZE, 1), 'linear',
                              antialias=True)
  return images


@jax.jit
def classify(params, images: jnp.ndarray) -> Tuple[jnp.ndarray, jnp.ndarray]:
  """Returns (logits (N, 10), features (N, 128)) for images in [-1, 1]; float32 throughout."""
  return MODEL.apply({'params': params}, preprocess(images))


def weights_path(dataset: str) -> pathlib.Path:
  return WEIGHTS_DIR / f'{dataset}_classifier.msgpack'


@functools.lru_cache(maxsize=None)
def _load_params(path: str):
  # msgpack_restore needs no template, so loading does not have to initialise a model.
  stored = flax.serialization.msgpack_restore(pathlib.Path(path).read_bytes())
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), stored)


def load_classifier(dataset: str, *, path: Optional[str] = None) -> Tuple[Callable, Any]:
  """Returns (classify, params) for the committed classifier of `dataset`; works offline.

  `classify(params, images)` -> (logits, features); params are float32 (stored as float16).
  """
  path = pathlib.Path(path) if path else weights_path(dataset)
  if not path.exists():
    raise FileNotFoundError(
        f'No classifier weights at {path}; train them with '
        f'`python -m gan_jax.evaluation.classifier --dataset={dataset}`.')
  return classify, _load_params(str(path))


def as_classifier(classifier) -> Tuple[Callable, Any]:
  """Accepts (classify, params) or a dataset name, so metrics can take either."""
  return load_classifier(classifier) if isinstance(classifier, str) else classifier


# ---------------------------------------------------------------------------------------------
# Training.


def _augment(rng, images: jnp.ndarray, *, max_shift: int, flip: bool) -> jnp.ndarray:
  """Random translations by up to `max_shift` pixels (and horizontal flips for clothing)."""
  n, h, w, _ = images.shape
  shift_rng, flip_rng = jax.random.split(rng)
  if max_shift:
    padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)),
                     constant_values=-1.0)  # -1 is black, the background of both data sets.
    offsets = jax.random.randint(shift_rng, (n, 2), 0, 2 * max_shift + 1)
    crop = lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (h, w, im.shape[-1]))
    images = jax.vmap(crop)(padded, offsets)
  if flip:
    mirror = jax.random.bernoulli(flip_rng, 0.5, (n, 1, 1, 1))
    images = jnp.where(mirror, images[:, :, ::-1], images)
  return images


@functools.partial(jax.jit, static_argnames=('tx', 'max_shift', 'flip'), donate_argnums=(0, 1))
def train_step(params, opt_state, batch, rng, *, tx, max_shift: int, flip: bool):
  aug_rng, dropout_rng = jax.random.split(rng)
  images = _augment(aug_rng, batch['image'], max_shift=max_shift, flip=flip)

  def loss_fn(params):
    logits, _ = MODEL.apply({'params': params}, images, train=True,
                            rngs={'dropout': dropout_rng})
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch['label']).mean()

  loss, grads = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, loss


def predict(params, images: np.ndarray, *, batch_size: int = 1000) -> np.ndarray:
  """Predicted labels for float images in [-1, 1], in fixed-size batches (one compilation)."""
  out = []
  for start in range(0, len(images), batch_size):
    chunk = images[start:start + batch_size]
    pad = batch_size - len(chunk)
    if pad:
      chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
    logits, _ = classify(params, chunk)
    out.append(np.asarray(logits.argmax(-1))[:len(chunk) - pad])
  return np.concatenate(out)


def accuracy(params, images: np.ndarray, labels: np.ndarray) -> float:
  return float((predict(params, images) == labels).mean())


def to_storage(params):
  """float16 halves the package data; accuracy is checked after this cast, not before."""
  return jax.tree.map(lambda x: np.asarray(x, np.float16), params)


def train(dataset: str, *, seed: int = 0, epochs: int = 5, batch_size: int = 128,
          learning_rate: float = 2e-3, max_shift: int = 0, flip: bool = False,
          tfds_dir: Optional[str] = None, log_every: int = 100) -> Tuple[Any, Dict[str, Any]]:
  """Trains on the real train split; returns (float32 params, info with test accuracies)."""
  cfg = ml_collections.ConfigDict({'name': dataset, 'split': 'train', 'tfds_dir': tfds_dir})
  train_data = input_pipeline.load_split(cfg)
  test_data = input_pipeline.load_split(cfg, split='test')
  test_images = input_pipeline.to_model_range(test_data['image'])

  steps_per_epoch = len(train_data['image']) // batch_size
  total_steps = epochs * steps_per_epoch
  # Short warm-up then cosine decay: a few epochs reach a good optimum without tuning.
  schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, min(500, total_steps // 10),
                                                total_steps)
  tx = optax.adam(schedule)
  rng = jax.random.PRNGKey(seed)
  init_rng, rng = jax.random.split(rng)
  params = MODEL.init(init_rng, jnp.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1)))['params']
  opt_state = tx.init(params)

  start = time.time()
  for step in range(total_steps):
    batch = input_pipeline.get_batch(train_data, batch_size=batch_size, batch_index=step,
                                     seed=seed, process_index=0, process_count=1)
    params, opt_state, loss = train_step(params, opt_state, batch, jax.random.fold_in(rng, step),
                                         tx=tx, max_shift=max_shift, flip=flip)
    if (step + 1) % log_every == 0:
      logging.info('step %d/%d loss %.4f (%.0f s)', step + 1, total_steps, loss,
                   time.time() - start)
    if (step + 1) % steps_per_epoch == 0:
      logging.info('epoch %d test accuracy %.4f', (step + 1) // steps_per_epoch,
                   accuracy(params, test_images, test_data['label']))
  jax.block_until_ready(params)
  train_time = time.time() - start

  stored = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), to_storage(params))
  info = {
      'dataset': dataset,
      'seed': seed,
      'epochs': epochs,
      'batch_size': batch_size,
      'learning_rate': learning_rate,
      'max_shift': max_shift,
      'flip': flip,
      'num_params': int(sum(x.size for x in jax.tree.leaves(params))),
      'test_accuracy_float32': accuracy(params, test_images, test_data['label']),
      'test_accuracy': accuracy(stored, test_images, test_data['label']),  # As stored (float16).
      'train_time_s': round(train_time, 1),
      'device': jax.devices()[0].device_kind,
      'jax_version': jax.__version__,
  }
  return params, info


def save(params, info: Dict[str, Any], *, path: pathlib.Path) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(flax.serialization.msgpack_serialize(to_storage(params)))
  info = dict(info, weights_file=path.name, weights_bytes=path.stat().st_size)
  path.with_suffix('.json').write_text(json.dumps(info, indent=2) + '\n')


def main(argv):
  del argv
  from absl import flags
  f = flags.FLAGS
  params, info = train(f.dataset, seed=f.seed, epochs=f.epochs, batch_size=f.batch_size,
                       learning_rate=f.learning_rate, max_shift=f.max_shift, flip=f.flip,
                       tfds_dir=f.tfds_dir)
  info['command'] = 'python -m gan_jax.evaluation.classifier ' + ' '.join(sys.argv[1:])
  path = pathlib.Path(f.output) if f.output else weights_path(f.dataset)
  save(params, info, path=path)
  logging.info('Wrote %s: %s', path, json.dumps(info))


if __name__ == '__main__':
  # Flags only when run as a script: the GAN trainer imports this module and has its own flags.
  from absl import app, flags
  flags.DEFINE_string('dataset', 'mnist', 'tfds name: mnist or fashion_mnist.')
  flags.DEFINE_integer('seed', 0, 'Seed of initialisation, batch order, dropout and augmentation.')
  flags.DEFINE_integer('epochs', 5, 'Passes over the train split.')
  flags.DEFINE_integer('batch_size', 128, 'Batch size.')
  flags.DEFINE_float('learning_rate', 2e-3, 'Peak Adam learning rate (warm-up, cosine decay).')
  flags.DEFINE_integer('max_shift', 0, 'Random translation augmentation, in pixels.')
  flags.DEFINE_bool('flip', False, 'Random horizontal flips (clothing, not digits).')
  flags.DEFINE_string('tfds_dir', None, 'Prepared tfds data_dir (default: $TFDS_DATA_DIR).')
  flags.DEFINE_string('output', None, 'Weights path (default: the package data path).')
  app.run(main)
