"""One way to run a compiled function over an array of any length: fixed-size batches.

The last batch is zero-padded to the full size, so every length compiles one program (a shorter
last batch would compile a second one), and the padded rows are cut from the outputs.
"""
from typing import Callable, Optional

import jax
import numpy as np


def map_in_batches(fn: Callable, *arrays: Optional[np.ndarray], batch_size: int):
  """fn(*batches) over the leading axis of `arrays`, in batches of exactly `batch_size` rows.

  An array may be None (e.g. no labels) and is passed as None. `fn` returns an array or a pytree
  of arrays with a leading batch axis; the result is the same structure as host numpy arrays,
  concatenated over the batches.
  """
  num = len(next(a for a in arrays if a is not None))
  outputs = []
  for start in range(0, num, batch_size):
    chunks = [None if a is None else np.asarray(a[start:start + batch_size]) for a in arrays]
    n = min(batch_size, num - start)
    chunks = [c if c is None or n == batch_size else
              np.concatenate([c, np.zeros((batch_size - n, *c.shape[1:]), c.dtype)])
              for c in chunks]
    outputs.append(jax.tree.map(lambda x, n=n: np.asarray(x)[:n], fn(*chunks)))
  return jax.tree.map(lambda *xs: np.concatenate(xs), *outputs)
