"""Trains a GAN: `python -m gan_jax.main --config=configs/dcgan.py --workdir=/tmp/dcgan`.

This file only parses flags and hands over to `train.train_and_evaluate`; all logic lives in
importable, testable modules. Running the same command again resumes from the workdir.
"""
from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from gan_jax import train

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and samples.')
config_flags.DEFINE_config_file('config', None, 'Training configuration file.', lock_config=True)
flags.mark_flags_as_required(['config', 'workdir'])


class _QuietOrbax(logging.logging.Filter):
  """Orbax logs every save step by step at INFO; keep its warnings, drop the chatter."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or '/orbax/' not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  # tfds reads through TensorFlow: keep it off any accelerator so JAX has them all.
  import tensorflow as tf
  tf.config.experimental.set_visible_devices([], 'GPU')
  tf.config.experimental.set_visible_devices([], 'TPU')
  logging.get_absl_handler().addFilter(_QuietOrbax())
  logging.info('JAX process: %d / %d', jax.process_index(), jax.process_count())
  logging.info('JAX local devices: %r', jax.local_devices())
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  jax.config.config_with_absl()
  app.run(main)
