"""A tiny reader for the IDX format of the original MNIST / Fashion-MNIST files (.gz or raw)."""
import gzip
from pathlib import Path

import numpy as np

# IDX type codes -> big-endian numpy dtypes.
_DTYPES = {0x08: '>u1', 0x09: '>i1', 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}


def read_idx(path):
  """Returns the array stored in an IDX file: magic 0x0000 <type> <ndim>, big-endian dims."""
  path = Path(path)
  opener = gzip.open if path.suffix == '.gz' else open
  with opener(path, 'rb') as f:
    data = f.read()
  if data[0] != 0 or data[1] != 0:
    raise ValueError(f'{path}: not an IDX file')
  dtype, ndim = np.dtype(_DTYPES[data[2]]), data[3]
  shape = tuple(int(d) for d in np.frombuffer(data, '>u4', ndim, offset=4))
  array = np.frombuffer(data, dtype, int(np.prod(shape)), offset=4 + 4 * ndim)
  return array.reshape(shape).astype(dtype.newbyteorder('='))


def load_mnist_images(data_dir, split, *, dataset='mnist'):
  """(N, 28, 28, 1) uint8 images of `split` ('train' or 'test') from `data_dir/dataset/`."""
  prefix = {'train': 'train', 'test': 't10k'}[split]
  return read_idx(Path(data_dir) / dataset / f'{prefix}-images-idx3-ubyte.gz')[..., None]
