"""Convolutions with an exact, faster backward pass on XLA:CPU (D's strided convs; the seed's
32x32 nets' convs).

XLA:CPU differentiates a stride-s convolution into a convolution over the s-fold zero-dilated
output gradient (the input gradient) and a convolution whose "kernel" is that gradient (the
kernel gradient). Both ran at a third of PyTorch's speed in the DCGAN step's profile
(experiments/benchmarks/dcgan_layer_profile.md: D's 14x14x64 -> 7x7x128 conv at batch 256, 55
and 51 ms against 19 and 19; 22 and 34 ms this way). `conv_dot_grad` keeps XLA's forward and
computes

  - the input gradient as the transposed convolution it is, in the sub-pixel form without the
    dilation's zeros (`upsample.conv_transpose_subpixel`, fewest taps), for layers whose input
    is wide enough (as `Upsample`'s forward; else XLA's own);
  - the kernel gradient of a stride-1 conv as im2col windows of the padded input times the
    output gradient, one dot per batch chunk sized to stay in cache (`im2col.kernel_gradient`);
    XLA's own kernel gradient of a stride-1 conv made the 32x32 nets' step 28x slower. A
    strided conv keeps XLA's kernel gradient, the faster one there: D's 14x14x64 -> 7x7x128 conv
    at batch 256 took 20.9 against 27.4 ms on Intel Xeon AVX-512 cores and 31.3 against 35.9 on
    AVX2 cores (dcgan_layer_profile.md); on the Intel cores the whole step at batch 128 / 256
    took 0.93x / 0.95x the im2col one's time.

Both are the same sums as XLA's in another order: equal within float32 rounding (tests). Stride
1 takes the same path (the input gradient is then a plain conv) when it is large enough; small
stride-1 convs (under MIN_WINDOW_BYTES of windows) keep XLA's backward, which is as fast there.
At every size the input gradient has a VJP of its own, for penalties on D's input gradient (R1,
WGAN-GP).
`conv_general_dilated` has lax's signature, so `nn.Conv(..., conv_general_dilated=...)` takes it
and the params (names, shapes, inits) stay nn.Conv's.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax import im2col
from gan_jax.models import upsample

DN = ('NHWC', 'HWIO', 'NHWC')


def _pads(x_hw, k_hw, strides, padding):
  if isinstance(padding, str):
    return tuple(lax.padtype_to_pads(x_hw, k_hw, strides, padding))
  return tuple(tuple(p) for p in padding)


def _out_hw(x_hw, k_hw, strides, pads):
  return tuple((size + lo + hi - k) // s + 1
               for size, k, s, (lo, hi) in zip(x_hw, k_hw, strides, pads))


def _window_bytes(x, kernel, strides, pads):
  """Bytes of one example's im2col windows: the kernel gradient's operand."""
  out_h, out_w = _out_hw(x.shape[1:3], kernel.shape[:2], strides, pads)
  return out_h * out_w * kernel.shape[0] * kernel.shape[1] * x.shape[3] * x.dtype.itemsize


def conv_dot_grad(x, kernel, strides, padding, own_backward: bool = True):
  """`lax.conv_general_dilated(x, kernel, strides, padding)` for NHWC x and HWIO kernel, with the
  backward pass described in the module docstring; `own_backward=False` keeps XLA's first
  derivatives (for small convs, where they are as fast) and only the second ones below.

  Second derivatives (R1's and WGAN-GP's penalties differentiate D's input gradient again): the
  input gradient dx(g, kernel) is linear in each argument, <c, dx(g, kernel)> = <g, conv(c,
  kernel)>, so its own VJP is a forward conv of the cotangent c (towards g) and this conv's
  kernel gradient at input c (towards the kernel). XLA differentiates its transposed conv
  instead, into a conv over the zero-dilated map that took 143 of the MNIST clusters config's
  290 ms R1 step at batch 64 (the sub-pixel form's 2x2 kernel gradient, 485 ms;
  experiments/benchmarks/step_op_profile.md).
  """
  n, h, w, cin = x.shape
  kh, kw, _, cout = kernel.shape
  strides = tuple(strides)
  (lo_h, hi_h), (lo_w, hi_w) = pads = _pads((h, w), (kh, kw), strides, padding)
  x_shape, kernel_shape = jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(
      kernel.shape, kernel.dtype)

  def forward(x, kernel):
    return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=DN)

  out_h, out_w = _out_hw((h, w), (kh, kw), strides, pads)
  # dL/dx[p] = sum_t g[(p + lo - t) / s] kernel[t]: the transposed conv of g with the kernel
  # flipped and in/out swapped, its dilated input padded so the output is x's size again.
  dx_pads = tuple((k - 1 - lo, size - 1 - (out - 1) * s + lo)
                  for k, lo, size, out, s in ((kh, lo_h, h, out_h, strides[0]),
                                              (kw, lo_w, w, out_w, strides[1])))
  subpixel_dx = (own_backward
                 and cin * strides[0] * strides[1] >= upsample.SUBPIXEL_FORWARD_MIN_WIDTH
                 and min(min(p) for p in dx_pads) >= 0)

  def kernel_grad(x, g):  # dL/dkernel at input x for the output cotangent g.
    if not own_backward or strides != (1, 1):
      return jax.linear_transpose(lambda k: forward(x, k), kernel_shape)(g)[0]
    chunk = im2col.chunk_size(n, _window_bytes(x, kernel, strides, pads))
    # Windows of x padded as the forward pads it (negative pads crop, as in lax).
    xp = lax.pad(x, 0.0, ((0, 0, 0), (lo_h, hi_h, 0), (lo_w, hi_w, 0), (0, 0, 0)))
    rows = lambda start, size: im2col.taps(  # noqa: E731
        lax.dynamic_slice_in_dim(xp, start, size), range(kh), range(kw), strides,
        (out_h, out_w)).reshape(size, out_h * out_w, kh * kw * cin)
    dk = im2col.kernel_gradient(g.reshape(n, out_h * out_w, cout), rows, chunk)
    return dk.T.reshape(kh, kw, cin, cout)

  @jax.custom_vjp
  def input_grad(g, kernel):
    if subpixel_dx:
      flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)
      return upsample.conv_transpose_subpixel(g, flipped, strides, dx_pads, fewest_taps=True)
    return jax.linear_transpose(lambda x: forward(x, kernel), x_shape)(g)[0]

  def input_grad_fwd(g, kernel):
    return input_grad(g, kernel), (g, kernel)

  def input_grad_bwd(res, c):
    g, kernel = res
    return forward(c, kernel), kernel_grad(c, g)

  input_grad.defvjp(input_grad_fwd, input_grad_bwd)

  @jax.custom_vjp
  def conv(x, kernel):
    return forward(x, kernel)

  def fwd(x, kernel):
    return forward(x, kernel), (x, kernel)

  def bwd(res, g):
    x, kernel = res
    return input_grad(g, kernel), kernel_grad(x, g)

  conv.defvjp(fwd, bwd)
  return conv(x, kernel)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, min_window_bytes=None):
  """lax.conv_general_dilated's signature for `nn.Conv(conv_general_dilated=...)`: a plain 2-D
  NHWC convolution goes through `conv_dot_grad` (its own first derivatives from
  `min_window_bytes` of windows up, default MIN_WINDOW_BYTES), anything else to lax as is."""
  args = (lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
          feature_group_count)
  plain = (lhs.ndim == 4 and feature_group_count == 1
           and all(d is None or all(v == 1 for v in d) for d in (lhs_dilation, rhs_dilation))
           and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
           == lax.conv_dimension_numbers(lhs.shape, rhs.shape, DN)
           and precision is None)
  if min_window_bytes is None:
    min_window_bytes = MIN_WINDOW_BYTES
  if not plain:
    return lax.conv_general_dilated(*args, precision=precision)
  window_bytes = lhs.shape[0] * _window_bytes(
      lhs, rhs, window_strides, _pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding))
  strided = any(st > 1 for st in window_strides)
  return conv_dot_grad(lhs, rhs, window_strides, padding,
                       own_backward=strided or window_bytes >= min_window_bytes)


def constant_planes(image_channels: int, conv_fn=None):
  """A `conv_general_dilated` for nn.Conv over [image, planes] whose channels past
  `image_channels` are constant over space (D's one-hot label planes, models/dcgan.py).

  The conv of such a plane is the same map for every example (the kernel slice summed over the
  taps that fall inside the padded image), so the output is `conv_fn` (lax's when None) of the
  image alone plus each example's mix of k per-plane maps, computed once per call. The conv of
  the concatenated input does (1 + k) times the image's work: with 30 planes the DCGAN step at
  batch 64 took 1.55x the unconditional one on AVX2 cores (1.75x on AVX-512 ones), with these
  maps 1.09x (1.24x: 149 / 106 / 85 ms; experiments/benchmarks/label_planes_bench.py). The mix as
  a gather maps[argmax(planes)] or as one (n, k) x (k, h*w*f) matmul ran no faster (93-94 ms
  against 94, alternated). nn.Conv's params are unchanged and the result equals the plain conv to
  float32 rounding (tests). The planes get no gradient: they are labels.
  """
  inner = conv_fn or lax.conv_general_dilated

  def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
           dimension_numbers=None, feature_group_count=1, precision=None):
    if (feature_group_count != 1 or lax.conv_dimension_numbers(lhs.shape, rhs.shape,
                                                               dimension_numbers)
        != lax.conv_dimension_numbers(lhs.shape, rhs.shape, DN)):
      raise ValueError('constant_planes: a plain NHWC/HWIO conv only.')
    c, (kh, kw, _, f) = image_channels, rhs.shape
    k = lhs.shape[-1] - c
    rest = dict(lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation, dimension_numbers=DN,
                precision=precision)
    out = inner(lhs[..., :c], rhs[:, :, :c], window_strides, padding, **rest)
    # inside[h, w, t] = 1 where tap t of output (h, w) reads the image, not padding:
    # the conv of a plane of ones with one-hot kernels (constants; XLA:CPU's grouped convs,
    # the direct way, ran as slowly as the planes' full conv).
    taps = jnp.eye(kh * kw, dtype=lhs.dtype).reshape(kh, kw, 1, kh * kw)
    inside = lax.conv_general_dilated(jnp.ones((1, *lhs.shape[1:3], 1), lhs.dtype), taps,
                                      window_strides, padding, **rest)[0]
    maps = jnp.einsum('hwt,tkf->hwkf', inside, rhs[:, :, c:].reshape(kh * kw, k, f),
                      precision=precision)
    planes = lax.stop_gradient(lhs[:, 0, 0, c:])
    return out + jnp.einsum('nk,hwkf->nhwf', planes, maps, precision=precision)

  return conv


# `conv_general_dilated` gives a stride-1 conv XLA's own backward below this many bytes of
# im2col windows over the batch (the kernel gradient's operand): XLA:CPU's convs keep up while
# the work is small. The seed's 32x32 step at batch 64 on 2 AVX-512 cores: 605 ms with this
# threshold, 751 with our backward for every conv, 813 with XLA's for all (same process,
# alternated). A strided conv takes the sub-pixel input gradient at every size (its kernel
# gradient is XLA's either way): on 2 Intel Xeon cores, alternated, the DCGAN step at batch 64
# took 0.966x the time it took with XLA's input gradient below the threshold, MNIST's clusters
# config 0.965x (with and without its R1 penalty), the 32x32 nets 0.98x.
MIN_WINDOW_BYTES = 2 ** 24


def pick(impl: str):
  """The `conv_general_dilated` for nn.Conv: None (flax's default, lax's) or ours.

  'auto': ours on CPU, where it was measured faster; lax's elsewhere (not benchmarked)."""
  if impl == 'auto':
    impl = 'dot_grad' if jax.default_backend() == 'cpu' else 'xla'
  if impl not in ('xla', 'dot_grad'):
    raise ValueError(f"unknown conv impl {impl!r}: 'auto', 'xla' or 'dot_grad'")
  return conv_general_dilated if impl == 'dot_grad' else None


def _nearest2_phases(size, k, lo, hi):
  """Along one dim of a stride-1 conv (kernel k, pads lo/hi) of x nearest-upsampled 2x:
  (taps L, per-phase tap sums (2, L, k), each phase's first input row, output rows per phase).

  Output row o = 2i + a reads upsampled rows o + t - lo, i.e. x rows i + (a + t - lo) // 2: per
  phase a the k taps fall on L <= ceil((k + 1) / 2) rows of x, so a k-tap kernel on the 2x map is
  an L-tap kernel (its taps summed by input row) on x itself.
  """
  out = 2 * size + lo + hi - k + 1
  if out % 2:
    return None
  first = [(a - lo) // 2 for a in (0, 1)]
  taps = max((a + k - 1 - lo) // 2 - first[a] + 1 for a in (0, 1))
  sums = np.zeros((2, taps, k), np.float32)
  for a in (0, 1):
    for t in range(k):
      sums[a, (a + t - lo) // 2 - first[a], t] = 1
  return taps, sums, first, out // 2


def conv_upsampled2(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                    dimension_numbers=None, feature_group_count=1, precision=None):
  """`conv_general_dilated` of lhs upsampled 2x (nearest), for nn.Conv, computed without the
  upsampled map: each of the 4 output phases is a ceil((k+1)/2)-tap conv of lhs with the
  kernel's taps summed where they read the same pixel (2x2 instead of 3x3 for k = 3: 16 (H+1)^2
  against 36 H^2 multiply-adds per channel pair), one stride-1 conv to 4 x out channels (through
  `conv_general_dilated` at every size: XLA:CPU's kernel gradient of this few-tap conv is its
  slowest, a 2x2 conv to 512 channels on 9x9 maps made the seed's 32x32 step 4x slower), then
  depth to space. nn.Conv's params are unchanged; equal to upsample-then-conv to float32
  rounding (tests). Strided convs and odd output sizes upsample, then conv.
  """
  n, h, w, cin = lhs.shape
  kh, kw, _, cout = rhs.shape
  pads = _pads((2 * h, 2 * w), (kh, kw), tuple(window_strides), padding)
  dims = [_nearest2_phases(size, k, lo, hi) for size, k, (lo, hi) in zip((h, w), (kh, kw), pads)]
  rest = dict(lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
              dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
              precision=precision)
  if (None in dims or max(window_strides) > 1 or feature_group_count != 1
      or any(d is not None and max(d) > 1 for d in (lhs_dilation, rhs_dilation))):
    up = jnp.repeat(jnp.repeat(lhs, 2, axis=1), 2, axis=2)
    return conv_general_dilated(up, rhs, window_strides, padding, **rest)
  (lh, sh, fh, nh), (lw, sw, fw, nw) = dims
  wk = jnp.einsum('aut,bvq,tqio->uviabo', sh, sw, rhs).reshape(lh, lw, cin, 4 * cout)
  # Pad so that every phase's windows fit; phase a's row i starts at i + first[a].
  lo_h, lo_w = -min(fh), -min(fw)
  pad_h = (lo_h, max(fh) + nh - 1 + lh - h)
  pad_w = (lo_w, max(fw) + nw - 1 + lw - w)
  z = conv_general_dilated(lhs, wk, (1, 1), (pad_h, pad_w), min_window_bytes=0, **rest)
  z = z.reshape(*z.shape[:3], 2, 2, cout)
  phases = [[z[:, fh[a] + lo_h:fh[a] + lo_h + nh, fw[b] + lo_w:fw[b] + lo_w + nw, a, b]
             for b in (0, 1)] for a in (0, 1)]
  y = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2)  # (n, nh, 2, nw, 2, c)
  return y.reshape(n, 2 * nh, 2 * nw, cout)
