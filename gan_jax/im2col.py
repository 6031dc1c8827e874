"""im2col: the strided windows of an NHWC map for every tap of a kernel, side by side along
channels, so a convolution (or its kernel gradient) is one matmul, where XLA:CPU's dot reaches
2-5x the speed of the convolution it emits for some shapes (the Inception stem's 1x1 and 3x3
convs, a transposed conv's kernel gradient: experiments/benchmarks/)."""
from typing import Sequence, Tuple

import jax.numpy as jnp


def taps(x, rows: Sequence[int], cols: Sequence[int], strides: Tuple[int, int],
         out_hw: Tuple[int, int]):
  """(N, Ho, Wo, len(rows) * len(cols) * C): x[:, r + sh*i, c + sw*j, :] for each (r, c) in
  rows x cols (rows outer, as a (kh, kw, C, ...) kernel flattens), i < Ho, j < Wo.

  Every window must lie inside x: pad x first.
  """
  (sh, sw), (ho, wo) = strides, out_hw
  windows = [x[:, r:r + sh * (ho - 1) + 1:sh, c:c + sw * (wo - 1) + 1:sw, :]
             for r in rows for c in cols]
  return windows[0] if len(windows) == 1 else jnp.concatenate(windows, axis=-1)
