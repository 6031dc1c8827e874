"""Where the local data lives: `$GAN_JAX_DATA_DIR`, else `../shared/data` beside the repository.

A leaf module: the input pipeline, the non-tfds sources and the Inception weights all search the
same places, so the search and its error are written once here.
"""
import os
import pathlib
from typing import Optional

DATA_DIR_ENV = 'GAN_JAX_DATA_DIR'


class DataUnavailableError(RuntimeError):
  """Data (a data set, the Inception weights) that is neither prepared, nor local, nor
  downloadable."""


def _shared() -> pathlib.Path:
  return pathlib.Path(__file__).resolve().parents[2] / 'shared' / 'data'


def default_local_mirror() -> Optional[pathlib.Path]:
  """`$GAN_JAX_DATA_DIR`, else `../shared/data` beside the repository when it exists."""
  if os.environ.get(DATA_DIR_ENV):
    return pathlib.Path(os.environ[DATA_DIR_ENV])
  shared = _shared()
  return shared if shared.is_dir() else None


def find(required: str, data_dir=None) -> pathlib.Path:
  """The first of `data_dir`, `$GAN_JAX_DATA_DIR` and `../shared/data` that holds `required`.

  Raises DataUnavailableError naming the file and the places tried; nothing is downloaded.
  """
  candidates = [data_dir, os.environ.get(DATA_DIR_ENV), _shared()]
  for candidate in candidates:
    if candidate and (pathlib.Path(candidate) / required).is_file():
      return pathlib.Path(candidate)
  raise DataUnavailableError(
      f'Could not find {required!r}: set {DATA_DIR_ENV} to the folder that contains it (tried '
      f'{[str(c) for c in candidates if c]}). Nothing is downloaded.')


def save_npz(path, arrays) -> None:
  """`np.savez(path, **arrays)` through a temporary file and `os.replace`: a concurrent reader
  (another process, another test worker) sees the whole file or none. The caches of decoded
  splits and of FID reference statistics write this way."""
  import numpy as np
  path = os.fspath(path)
  tmp = f'{path}.tmp{os.getpid()}'
  try:
    with open(tmp, 'wb') as f:
      np.savez(f, **arrays)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
