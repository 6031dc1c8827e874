"""im2col: the strided windows of an NHWC map for every tap of a kernel, side by side along
channels, so a convolution (or its kernel gradient) is one matmul, where XLA:CPU's dot is
faster than the convolution it emits for some shapes (the kernel gradients of the 32x32 nets'
stride-1 convs: experiments/benchmarks/)."""
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
from jax import lax


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


# Bytes of im2col windows per batch chunk in a kernel gradient (`kernel_gradient`): each chunk's
# windows are built and consumed by its dot while still in cache. Forward + backward at batch
# 256 on 2 AVX-512 cores (jitted VJPs, median of 7 alternated reps): D's 14x14x64 -> 7x7x128
# conv (models.conv) 79 ms as one dot over the batch, 64-65 ms with 1, 4 or 16 MiB chunks, 97 ms
# with XLA's own backward; G's 7x7x128 -> 14x14x64 Upsample 74 ms as one dot, 58 / 49 / 62 ms
# with 1 / 4 / 16 MiB chunks. At batch 64, 4 MiB: 13.4 against 20.8 ms (one dot) for D's conv,
# 15.3 against 15.5 for the Upsample. Those two strided layers now take XLA's kernel gradient of
# a strided conv (models/conv.py, models/upsample.py); the chunks serve the stride-1 convs.
CHUNK_BYTES = 2 ** 22


def chunk_size(batch: int, bytes_per_example: int, target: Optional[int] = None) -> int:
  """The largest divisor of `batch` whose chunk of examples takes at most `target` bytes
  (default CHUNK_BYTES), at least 1."""
  target = CHUNK_BYTES if target is None else target
  best = 1
  for d in range(1, batch + 1):
    if batch % d == 0 and d * bytes_per_example <= target:
      best = d
  return best


def kernel_gradient(lhs, rhs_fn, chunk: int):
  """sum over the batch of lhs[n]^T rhs_fn(n): a kernel gradient as (F, N*P) x (N*P, G) dots.

  lhs: (N, P, F) per-example rows; rhs_fn(start, size) -> (size, P, G), the matching rows of
  the other operand (typically windows from `taps`) for examples start .. start + size. The
  batch is walked in chunks of `chunk` examples (a `lax.scan`) so the windows rhs_fn builds are
  consumed while still in cache; with chunk = N it is one dot.
  """
  n, p, f = lhs.shape
  assert n % chunk == 0 or chunk >= n, (n, chunk)
  def dot(a, b):
    return jnp.dot(a.reshape(-1, f).T, b.reshape(a.shape[0] * p, -1),
                   precision=lax.Precision.HIGHEST)
  if chunk >= n:
    return dot(lhs, rhs_fn(0, n))
  def body(acc, i):
    start = i * chunk
    a = lax.dynamic_slice_in_dim(lhs, start, chunk)
    return acc + dot(a, rhs_fn(start, chunk)), None
  g = jax.eval_shape(lambda: rhs_fn(0, chunk)).shape[-1]
  return lax.scan(body, jnp.zeros((f, g), lhs.dtype), jnp.arange(n // chunk))[0]
