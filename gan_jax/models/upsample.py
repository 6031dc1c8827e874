"""The generator's upsampling layer, kept behind one small module.

On XLA:CPU the kernel gradient of a strided `nn.ConvTranspose` is ~20-80x slower than its forward
pass, so this module is the single place where faster, exactly equivalent computations go: the
kernel gradient through a strided conv or as matmuls ('dot_grad', the CPU default), or the
sub-pixel form below.

The fast path is the sub-pixel decomposition: a stride-s transposed convolution equals an
ordinary stride-1 convolution producing s*s*out channels (one group per output phase), followed
by depth-to-space, with the kernel rearranged. Derivation (per spatial dim; `lax.conv_transpose`
with flax's default `transpose_kernel=False` correlates the zero-dilated, (pa, pb)-padded input
with the *unflipped* kernel K):

    y[o] = sum_t xdil[o + t - pa] K[t],   xdil[s*i] = x[i] (zeros in between)

Writing o = s*q + r (phase r in [0, s)) and t = s*d + pa - r:

    y[s*q + r] = sum_d x[q + d] K[s*d + pa - r]

i.e. for each phase r a stride-1 correlation of x itself (no zeros) with taps K[s*d + pa - r].
"""
import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.linen.linear import canonicalize_padding
from jax import lax

from gan_jax import im2col


def _transpose_pads(k, s, padding):
  """(lo, hi) pads `lax.conv_transpose` applies to the dilated input along one spatial dim.

  `padding` is one dim of flax's canonicalized padding. flax's ConvTranspose calls
  lax.conv_transpose with use_consistent_padding=False, so 'SAME'/'VALID' name the padding of the
  forward conv this is the transpose of ('SAME' gives output = s * input), while explicit (lo, hi)
  pairs are applied to the dilated input as given.
  """
  if padding == 'SAME':  # As jax's _conv_transpose_padding.
    pad_len = k + s - 2
    lo = k - 1 if s > k - 1 else math.ceil(pad_len / 2)
    return lo, pad_len - lo
  if padding == 'VALID':
    return k - 1, k + s - 2 + max(k - s, 0) - (k - 1)
  if isinstance(padding, str):
    raise NotImplementedError(f'Upsample supports SAME, VALID or explicit pads, got {padding!r}')
  return tuple(padding)


def _phase_geometry(n, k, s, lo, hi):
  """Static geometry of the sub-pixel conv along one spatial dim of input size n.

  Returns (a, taps, pad_lo, pad_hi, out): the kernel is zero-padded by `a` in front and reshaped
  to (taps, s) so that row j holds taps d = j - pad_lo for every phase (phase axis reversed);
  the stride-1 conv pads x by (pad_lo, pad_hi); the transposed-conv output size is `out`.
  """
  out = (n - 1) * s + 1 + lo + hi - k + 1
  assert out > 0, f'empty ConvTranspose output along a dim (size {n}, kernel {k}, pads {lo, hi})'
  # t + a = s*(d - d_min) + (s - 1 - r) with d_min = -floor(lo/s)  =>  a = s-1 - (lo mod s) >= 0.
  a = s - 1 - lo % s
  taps = -(-(a + k) // s)
  pad_lo = lo // s  # = -d_min; negative only for negative explicit pads (lax allows that).
  # Produce ceil(out/s) phase rows (cropped below); never pad negatively on the high side.
  rows = -(-out // s)
  pad_hi = max(rows - 1 + taps - n - pad_lo, 0)
  return a, taps, pad_lo, pad_hi, out


def subpixel_kernel(kernel, strides, pads):
  """Rearranges a (k, k, in, out) ConvTranspose kernel into a (L, L, in, s*s*out) conv kernel.

  Only pads, reshapes and flips, so the gradient back to `kernel` is a cheap slice.
  """
  (sh, sw), ((ah, lh), (aw, lw)) = strides, pads
  kh, kw, cin, cout = kernel.shape
  w = jnp.pad(kernel, ((ah, lh * sh - ah - kh), (aw, lw * sw - aw - kw), (0, 0), (0, 0)))
  w = w.reshape(lh, sh, lw, sw, cin, cout)[:, ::-1, :, ::-1]  # phase axes: s-1-r -> r
  return w.transpose(0, 2, 4, 1, 3, 5).reshape(lh, lw, cin, sh * sw * cout)


def conv_transpose_subpixel(x, kernel, strides, padding, *, fewest_taps=False):
  """Exactly `lax.conv_transpose(x, kernel, strides, padding)` (flax semantics), computed as a
  stride-1 conv to s*s*out channels followed by depth-to-space and a crop.

  fewest_taps: shift the output grid (cropped again) so that the phases start where each needs
  only ceil(k/s) taps: 2x2 instead of 3x3 for k = 4, s = 2, 2.25x fewer multiply-adds and a
  faster forward. Off by default: XLA:CPU's kernel gradient of the 2x2 conv is the slower one by
  far (7x7x128 -> 14x14x64 at batch 256, fwd+bwd 6.8 s against 0.43 s; upsample_speed.py), so
  only 'dot_grad', which computes its own kernel gradient, shifts.
  """
  n, h, w, _ = x.shape
  kh, kw, _, cout = kernel.shape
  pad = canonicalize_padding(padding, 2)
  (sh, sw), (ph, pw) = strides, ((pad, pad) if isinstance(pad, str) else pad)
  (loh, hih), (low, hiw) = _transpose_pads(kh, sh, ph), _transpose_pads(kw, sw, pw)
  # The shift of the output grid in rows (columns) that makes a = 0 in _phase_geometry.
  dh, dw = ((sh - 1 - loh % sh) % sh, (sw - 1 - low % sw) % sw) if fewest_taps else (0, 0)
  ah, lh, plh, phh, oh = _phase_geometry(h, kh, sh, loh + dh, hih)
  aw, lw, plw, phw, ow = _phase_geometry(w, kw, sw, low + dw, hiw)
  # Rearranged at run time (not stored) so params stay nn.ConvTranspose's (k, k, in, out) kernel:
  # checkpoints interchange with nn.ConvTranspose and with impl='conv_transpose'.
  wk = subpixel_kernel(kernel, (sh, sw), ((ah, lh), (aw, lw)))
  pads = ((plh, phh), (plw, phw))
  z = lax.conv_general_dilated(x, wk, (1, 1), pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  qh, qw = z.shape[1:3]
  # Depth to space: channel (r_h, r_w, c) of row (q_h, q_w) -> pixel (s*q_h + r_h, s*q_w + r_w).
  z = z.reshape(n, qh, qw, sh, sw, cout).transpose(0, 1, 3, 2, 4, 5)
  return z.reshape(n, qh * sh, qw * sw, cout)[:, dh:oh, dw:ow, :]


def _kernel_gradient(x, g, kernel_shape, strides, pads):
  """dL/dkernel of `lax.conv_transpose(x, kernel, strides, pads)` (explicit (lo, hi) pads of the
  dilated input, flax semantics) given dL/dy = g, as matmuls.

  Tap t of the kernel carries x[i] to y[s*i + lo - t] (see the module docstring), so
  dkernel[t] = sum_(n,i) x[n, i] g[n, s*i + lo - t]^T: the strided slices of g for all kh*kw taps,
  side by side along channels, are the right operand of an (in, N*H*W) x (N*H*W, taps*out) dot,
  taken over batch chunks whose windows stay in cache (`im2col.kernel_gradient`).
  """
  kh, kw, cin, cout = kernel_shape
  n, h, w, _ = x.shape
  (sh, sw), ((lo_h, _), (lo_w, _)) = strides, pads
  # Zero rows around g make every tap's slice in range; they stand for positions outside y.
  front_h, front_w = max(kh - 1 - lo_h, 0), max(kw - 1 - lo_w, 0)
  back_h = max(sh * (h - 1) + lo_h + 1 - g.shape[1], 0)
  back_w = max(sw * (w - 1) + lo_w + 1 - g.shape[2], 0)
  gp = jnp.pad(g, ((0, 0), (front_h, back_h), (front_w, back_w), (0, 0)))
  rows = lambda start, size: im2col.taps(  # noqa: E731
      lax.dynamic_slice_in_dim(gp, start, size), [lo_h + front_h - t for t in range(kh)],
      [lo_w + front_w - t for t in range(kw)], strides, (h, w)).reshape(size, h * w, -1)
  chunk = im2col.chunk_size(n, h * w * kh * kw * cout * g.dtype.itemsize)
  dk = im2col.kernel_gradient(x.reshape(n, h * w, cin), rows, chunk)
  return dk.reshape(cin, kh, kw, cout).transpose(1, 2, 0, 3)


# The sub-pixel form's forward is the faster one from this many output channels times s*s (its
# stride-1 conv's width) up: on XLA:CPU, 7x7x128 -> 14x14x64 (256 wide) at batch 256 took 42-44 ms
# against 70-73 for lax.conv_transpose, 11 vs 14 at batch 64; 14x14x64 -> 28x28x1 (4 wide) 12.7
# vs 7.3 (single runs beside a training job). Only these two widths were measured, so the
# threshold could sit anywhere between 4 and 256.
SUBPIXEL_FORWARD_MIN_WIDTH = 64


def _kernel_gradient_strided_conv(x, g, kernel_shape, strides, pads):
  """The same dL/dkernel as `_kernel_gradient`, as XLA's kernel gradient of the strided conv
  that the transposed conv's input gradient is: dx = conv(g, W, strides) with W[t] = K[k-1-t]
  swapped in/out and the conv padded by k - 1 - lo in front, so dL/dW at output cotangent x is
  dL/dK flipped and swapped back."""
  kh, kw, cin, cout = kernel_shape
  h, w = x.shape[1:3]
  conv_pads = []
  for k, s, (lo, _), size, gsize in ((kh, strides[0], pads[0], h, g.shape[1]),
                                     (kw, strides[1], pads[1], w, g.shape[2])):
    front = k - 1 - lo
    conv_pads.append((front, s * (size - 1) + k - gsize - front))  # Output size: x's.
  conv = lambda w_: lax.conv_general_dilated(  # noqa: E731
      g, w_, strides, conv_pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  dw, = jax.linear_transpose(conv, jax.ShapeDtypeStruct((kh, kw, cout, cin), g.dtype))(x)
  return dw[::-1, ::-1].transpose(0, 1, 3, 2)


def conv_transpose_dot_grad(x, kernel, strides, padding):
  """Exactly `lax.conv_transpose(x, kernel, strides, padding)` (flax semantics): the forward as
  the sub-pixel conv (wide layers) or XLA's transposed conv, XLA's input gradient, and the kernel
  gradient not as the convolution XLA derives for it (20-80x slower than the forward on XLA:CPU)
  but as XLA's kernel gradient of the strided conv that is the input gradient
  (`_kernel_gradient_strided_conv`), or as matmuls at stride 1 (`_kernel_gradient`). On 2 Intel
  Xeon AVX-512 cores the strided form took the DCGAN step at batch 256 from 0.95x to 0.90x the
  time with matmuls for both of its transposed convs (D's strided convs on XLA's kernel gradient
  in both; alternated, experiments/benchmarks/dcgan_layer_profile.md)."""
  kh, kw = kernel.shape[:2]
  pad = canonicalize_padding(padding, 2)
  pads = tuple(_transpose_pads(k, s, p) for k, s, p in zip(
      (kh, kw), strides, (pad, pad) if isinstance(pad, str) else pad))
  dn = ('NHWC', 'HWIO', 'NHWC')
  subpixel_forward = kernel.shape[-1] * strides[0] * strides[1] >= SUBPIXEL_FORWARD_MIN_WIDTH

  @jax.custom_vjp
  def conv_t(x, kernel):
    if subpixel_forward:
      return conv_transpose_subpixel(x, kernel, strides, pads, fewest_taps=True)
    return lax.conv_transpose(x, kernel, strides, pads, dimension_numbers=dn)

  def fwd(x, kernel):
    return conv_t(x, kernel), (x, kernel)

  def bwd(res, g):
    x, kernel = res
    _, input_vjp = jax.vjp(
        lambda x: lax.conv_transpose(x, kernel, strides, pads, dimension_numbers=dn), x)
    kgrad = _kernel_gradient if tuple(strides) == (1, 1) else _kernel_gradient_strided_conv
    return input_vjp(g)[0], kgrad(x, g, kernel.shape, strides, pads)

  conv_t.defvjp(fwd, bwd)
  return conv_t(x, kernel)


def auto_impl(stride: int, backend: Optional[str] = None) -> str:
  """What impl='auto' runs. Stride 1 is a plain conv: 'conv_transpose'. Strided, by backend:
  CPU 'dot_grad' (XLA:CPU's kernel gradient of a transposed conv is 20-80x slower than its
  forward); GPU 'subpixel' (on an H200 cuDNN's kernel gradient of the 64x64 DCGAN's last
  transposed conv, 64 -> 3 channels, took 4.6 of the step's 14 ms at batch 256; with sub-pixel
  upsampling the step ran in 6.4 ms: experiments/benchmarks/gpu_results.md); elsewhere (TPU,
  not benchmarked) the library's own 'conv_transpose'."""
  if stride == 1:
    return 'conv_transpose'
  backend = backend or jax.default_backend()
  return {'cpu': 'dot_grad', 'gpu': 'subpixel'}.get(backend, 'conv_transpose')


class Upsample(nn.Module):
  """A fractional-strided (transposed) convolution with `nn.ConvTranspose`'s parameters.

  Declares `kernel` of shape (k, k, in, out) (and `bias` of shape (out,) if `use_bias`) itself,
  with the same names, shapes and inits as `nn.ConvTranspose` (transpose_kernel=False), so
  `Upsample(...).init` and `nn.ConvTranspose(...).init` give identical param trees and
  checkpoints are interchangeable between the two and between implementations.

  impl:
    'conv_transpose': `lax.conv_transpose`, exactly as nn.ConvTranspose computes it.
    'subpixel': stride-1 `lax.conv_general_dilated` to s*s*out channels, depth-to-space, crop.
      Same outputs and gradients (to float rounding); fwd+bwd ~10-20x faster on XLA:CPU.
    'dot_grad': the sub-pixel forward for wide layers (else `lax.conv_transpose`'s), XLA's
      input gradient, the kernel gradient as matmuls (`conv_transpose_dot_grad`), where
      XLA:CPU's own kernel gradient of either form is slow: fwd+bwd 1.5-2.6x faster than
      'subpixel' on XLA:CPU at batch 64 and 256 (experiments/benchmarks/upsample_speed.py).
    'auto': `auto_impl`, by the default backend.
  Input is NHWC. padding: 'SAME' (output = stride * input), 'VALID', an int, or explicit
  ((lo, hi), (lo, hi)) pads with nn.ConvTranspose's meaning. 'CIRCULAR' is not supported.
  """
  features: int
  kernel_size: int = 4
  strides: int = 2
  padding: Any = 'SAME'
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.normal(0.02)
  bias_init: Callable = nn.initializers.zeros_init()
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x):
    k, s = self.kernel_size, self.strides
    if isinstance(self.padding, str) and self.padding not in ('SAME', 'VALID'):
      raise NotImplementedError(f'Upsample supports SAME, VALID or explicit pads, got {self.padding!r}')
    kernel = self.param('kernel', self.kernel_init, (k, k, x.shape[-1], self.features),
                        jnp.float32)
    bias = self.param('bias', self.bias_init, (self.features,), jnp.float32) if self.use_bias else None
    x, kernel, bias = promote_dtype(x, kernel, bias)
    impl = self.impl
    if impl == 'auto':
      impl = auto_impl(s)
    if impl == 'conv_transpose':
      # Exactly what nn.ConvTranspose does.
      y = lax.conv_transpose(x, kernel, (s, s), canonicalize_padding(self.padding, 2),
                             dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    elif impl == 'subpixel':
      y = conv_transpose_subpixel(x, kernel, (s, s), self.padding)
    elif impl == 'dot_grad':
      y = conv_transpose_dot_grad(x, kernel, (s, s), self.padding)
    else:
      raise ValueError(f'unknown impl {impl!r}')
    if bias is not None:
      y = y + bias
    return y
