"""Winograd minimal filtering (Lavin & Gray 2016) for stride-1 convolutions, NHWC x HWIO.

F(m, r) computes m outputs of an r-tap correlation from a = m + r - 1 inputs with a products
instead of m * r: y = A^T [(G g) * (B^T d)]. Nested over rows and columns, a conv becomes a
transform of the input into (a_h * a_w) planes of tiles, one batched matmul over the channels
(a_h * a_w dots of (tiles, C_in) x (C_in, C_out)) and a transform back. With m = 2 a 3x3 conv
runs 16 products per 4 outputs instead of 36, a 5x5 36 per 4 instead of 100, a 1x7 8 per 2
instead of 14; with m = 4 a 3x3 conv runs 36 per 16 instead of 144. What is left is dots,
which XLA:CPU runs near its matmul peak.

The transforms read and write every tile once and run at memory speed, so a caller may keep
the batch small enough for the tiles to stay in cache (Inception runs 10 images per step on
CPU; experiments/benchmarks/inception_profile.md). Exact in real arithmetic; in
float32 the error grows with the tile size m and the points below, so the default is m = 2
(~1e-5 of the output's scale at 7 taps, 4e-5 for F(4, 3), which FID's Inception takes for its
3-tap convs: its features stay 5e-7 from TF's on average on the reference pair).
"""
import functools

import jax.numpy as jnp
import numpy as np
from jax import lax

# F(m, r) interpolates at a - 1 finite points and infinity; the first a - 1 of these. Small
# points, and their reciprocals, keep the transform matrices well conditioned (Lavin & Gray).
POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)


@functools.lru_cache(maxsize=None)
def transforms(m: int, r: int):
  """(A^T (m, a), G (a, r), B^T (a, a)), float64, a = m + r - 1: for d of length a and g of
  length r, A^T [(G g) * (B^T d)] is the valid correlation sum_k g[k] d[i + k], i < m.

  Toom-Cook: the correlation is the transpose of the linear convolution of a length-m and a
  length-r sequence, which evaluates both at the points, multiplies and interpolates; A^T and
  G evaluate, B^T is the transposed interpolation. Rows of B^T are scaled to a largest entry of
  1 and G takes the inverse scale, which leaves the product unchanged.
  """
  if r == 1:
    return np.eye(m), np.ones((m, 1)), np.eye(m)
  a = m + r - 1
  if a - 1 > len(POINTS):
    raise ValueError(f'F({m}, {r}) needs {a - 1} points; {len(POINTS)} are defined')
  def vandermonde(cols):
    v = np.zeros((a, cols))
    v[:a - 1] = np.asarray(POINTS[:a - 1])[:, None] ** np.arange(cols)
    v[a - 1, cols - 1] = 1.0  # The point at infinity: the leading coefficient.
    return v
  bt = np.linalg.inv(vandermonde(a)).T
  scale = np.abs(bt).max(axis=1, keepdims=True)
  return vandermonde(m).T, vandermonde(r) * scale, bt / scale


def _combine(mat, parts):
  """[sum_j mat[i, j] * parts[j] for each row i], skipping zero terms and multiplies by +-1."""
  out = []
  for row in np.asarray(mat, np.float64):
    acc = None
    for c, part in zip(row, parts):
      if c == 0.0:
        continue
      term = part if c == 1.0 else -part if c == -1.0 else np.float32(c) * part
      acc = term if acc is None else acc + term
    out.append(acc)
  return out


def _transform_axis(x, mat, step, count, *, axis, stack_axis):
  """Stacked along a new `stack_axis`, [sum_j mat[i, j] * x[step * t + j along axis], t < count]
  for each row i of mat: one axis of a Winograd transform over `count` overlapping tiles."""
  if mat.shape[0] == 1:  # F(1, 1): this axis has no taps to transform.
    return jnp.expand_dims(x, stack_axis)
  parts = [lax.slice_in_dim(x, j, j + step * (count - 1) + 1, step, axis)
           for j in range(mat.shape[1])]
  return jnp.stack(_combine(mat, parts), axis=stack_axis)


def _tiles(kernel_shape, tile):
  kh, kw = kernel_shape[:2]
  return (tile if kh > 1 else 1), (tile if kw > 1 else 1)


def kernel_transform(kernel, *, tile: int = 2, precision=lax.Precision.HIGHEST):
  """G g G^T of an HWIO kernel for F(tile, k) per axis, as `conv` multiplies it: (a_h * a_w,
  C_in, C_out). `conv` computes it unless given; a caller that runs one conv many times (in a
  loop, where XLA does not always hoist it) can compute it once."""
  kh, kw, cin, cout = kernel.shape
  mh, mw = _tiles(kernel.shape, tile)
  (_, g_h, _), (_, g_w, _) = transforms(mh, kh), transforms(mw, kw)
  u = jnp.einsum('ua,vb,abio->uvio', g_h.astype(np.float32), g_w.astype(np.float32), kernel,
                 precision=precision)
  return u.reshape(g_h.shape[0] * g_w.shape[0], cin, cout)


def conv(x, kernel, padding, *, tile: int = 2, precision=lax.Precision.HIGHEST,
         transformed=None):
  """lax.conv_general_dilated(x, kernel, (1, 1), padding) in NHWC / HWIO, by F(tile, k) on
  each spatial axis whose kernel is longer than 1 (a 1x7 kernel transforms only the columns).

  padding: ((top, bottom), (left, right)) zeros. transformed: `kernel_transform(kernel, tile=
  tile)` if the caller has it. Equal to XLA's conv up to float32 rounding.
  """
  kh, kw, cin, cout = kernel.shape
  mh, mw = _tiles(kernel.shape, tile)
  (at_h, _, bt_h), (at_w, _, bt_w) = transforms(mh, kh), transforms(mw, kw)
  ah, aw = bt_h.shape[0], bt_w.shape[0]
  if transformed is None:
    transformed = kernel_transform(kernel, tile=tile, precision=precision)
  u = transformed
  if u.shape != (ah * aw, cin, cout):
    raise ValueError(f'transformed kernel {u.shape} is not F({tile}, k) of {kernel.shape}')

  n, h, w, _ = x.shape
  (top, bottom), (left, right) = padding
  ho, wo = h + top + bottom - kh + 1, w + left + right - kw + 1
  th, tw = -(-ho // mh), -(-wo // mw)  # Tiles per column and row; the last may overhang.
  x = jnp.pad(x, ((0, 0), (top, th * mh + kh - 1 - h - top),
                  (left, tw * mw + kw - 1 - w - left), (0, 0)))

  # Input tiles: B^T along the rows, then along the columns, each axis one stack of its a
  # planes; XLA fuses each stack with its sums into one loop. All a_h * a_w planes stacked at
  # once (a fusion each, then a concatenate XLA:CPU left unfused) wrote the tiles twice: the
  # whole Inception forward ran 5-7 % fewer images/s (inception_profile.md).
  v = _transform_axis(x, bt_h, mh, th, axis=1, stack_axis=0)  # (ah, n, th, W, cin)
  v = _transform_axis(v, bt_w, mw, tw, axis=3, stack_axis=1)  # (ah, aw, n, th, tw, cin)
  v = v.reshape(ah * aw, n * th * tw, cin)
  prod = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))), precision=precision)
  prod = prod.reshape(ah, aw, n, th, tw, cout)
  out = [_combine(at_w, [r[j] for j in range(aw)])
         for r in _combine(at_h, [prod[i] for i in range(ah)])]  # [mh][mw] of (n, th, tw, o)
  y = jnp.stack([jnp.stack(r, axis=3) for r in out], axis=2)  # (n, th, mh, tw, mw, cout)
  return y.reshape(n, th * mh, tw * mw, cout)[:, :ho, :wo]
