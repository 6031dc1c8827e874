"""TensorBoard event files without TensorFlow: scalars, image grids and the run's hparams.

Why not clu.metric_writers: its package imports TensorFlow (5.4 s of the trainer's 9 s start-up
here, paid by every start of `gan_jax.main` and `gan_jax.evaluate`) to write three kinds of
record that TensorBoard's own protos and record framing write directly. The methods are those of
clu's MetricWriter, so a clu writer can stand in. Local paths only, as for the rest of a workdir.
"""
import itertools
import os
import socket
import time
from typing import Any, Dict, Mapping

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.summary.writer.record_writer import RecordWriter

from gan_jax import images as images_lib

_FILE_COUNT = itertools.count()


class SummaryWriter:
  """Writes `events.out.tfevents.*` into `logdir`; with `enabled=False` (processes other than
  0 of a multi-process run) every call does nothing."""

  def __init__(self, logdir: str, *, enabled: bool = True):
    self._records = None
    if enabled:
      # TensorBoard's EventFileWriter would open the file through tf.io.gfile, which imports
      # TensorFlow whenever it is installed; the records and their framing are the same.
      os.makedirs(logdir, exist_ok=True)
      now = time.time()
      # TensorFlow's naming, with a count per process: writers opened within one second (an
      # evaluation's scalars after each of several close steps) must not share a file.
      name = (f'events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.'
              f'{next(_FILE_COUNT)}')
      self._records = RecordWriter(open(os.path.join(logdir, name), 'xb'))
      self._add(event_pb2.Event(wall_time=now, file_version='brain.Event:2'))

  def _add(self, event) -> None:
    # Flushed at once: records are few (one per log step), and TensorBoard, or a run killed
    # next, then sees every one.
    if self._records is not None:
      self._records.write(event.SerializeToString())
      self._records.flush()

  def _write(self, step: int, values) -> None:
    self._add(event_pb2.Event(wall_time=time.time(), step=int(step),
                              summary=summary_pb2.Summary(value=values)))

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    self._write(step, [summary_pb2.Summary.Value(tag=k, simple_value=float(v))
                       for k, v in scalars.items()])

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """`images`: name -> (N, H, W, C) uint8, C 1 or 3; one image per entry of N
    (`name/0`, `name/1`, ...; `name` alone for N = 1)."""
    values = []
    for name, batch in images.items():
      for i, image in enumerate(batch):
        image = np.asarray(image)
        h, w, c = image.shape
        values.append(summary_pb2.Summary.Value(
            tag=name if len(batch) == 1 else f'{name}/{i}',
            image=summary_pb2.Summary.Image(height=h, width=w, colorspace=c,
                                            encoded_image_string=images_lib.png_bytes(image))))
    self._write(step, values)

  def write_hparams(self, hparams: Dict[str, Any]) -> None:
    """`hparams`: name -> bool, int, float or str (TensorBoard's HParams tab)."""
    self._add(event_pb2.Event(wall_time=time.time(), summary=hparams_summary.hparams_pb(hparams)))

  def flush(self) -> None:
    if self._records is not None:
      self._records.flush()

  def close(self) -> None:
    if self._records is not None:
      self._records.close()
      self._records = None
