"""The FID Inception-V3 (TF "inception-2015-12-05" graph) in plain JAX, tuned for XLA:CPU.

This is the variant that pytorch-fid, TTUR and StyleGAN2-ADA use (pytorch-fid's FIDInceptionA/C/E):
the average pools in the A, C and first E blocks exclude padding from the count, and the last E
block (mixed_10, torchvision's Mixed_7c) uses a max pool in its pool branch. Input is RGB,
normalised as 2*x/255 - 1; output is the 2048 "pool3" features (global average of the last map).

Weights come from `inception_v3_fid.npz` (see the data README); nothing is ever downloaded.
At load time the parameters are rewritten into an equivalent, faster form (exact up to float32
rounding; the reference test checks this):
  * batch norm (no scale, eps 1e-3) is folded into each conv's kernel and a bias;
  * the 1x1 convs of a block that read the block input are merged into one conv (output
    channels concatenated) -- one large matmul instead of three or four small ones;
  * in the A/C/E_1 pool branches the 1x1 conv is moved in front of the average pool. Both are
    linear and the pool weights sum to one (count_include_pad=False), so
    avgpool(conv(x)) + b == avgpool(conv(x) + b); the pool then runs on 32..192 channels
    instead of 192..1280, and the conv joins the merged 1x1 above.
Convs run in NHWC, each in the form measured fastest on XLA:CPU for its shape (see `_conv`,
`pick_impl`): 1x1 convs as one `jnp.dot`, the 3x3 and 1-D (1x7, 1x3, ...) stride-1 convs as
Winograd tiles (`gan_jax.winograd`, 1.65-4x fewer multiply-adds), the 5x5, stride-2 and 8x8
convs as XLA's conv; a few images at a time on CPU.
"""
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data_dir
from gan_jax import im2col
from gan_jax import winograd
from gan_jax import xla_cpu

WEIGHTS_FILE = 'inception_fid/inception_v3_fid.npz'
META_FILE = 'inception_fid/inception_v3_fid_meta.json'
BN_EPS = 1e-3
FEATURE_DIM = 2048
# Full float32 for every conv and matmul: the default lets GPUs use TF32 and TPUs bf16 passes,
# which move the features away from the TF reference (on CPU it changes nothing).
PRECISION = jax.lax.Precision.HIGHEST
CONV_IMPLS = ('xla', 'im2col', 'winograd')  # See `_conv`; 'auto' picks one per layer.
CHUNK_IMAGES = 10  # Images per step on CPU; see `apply`.
# Winograd outputs per tile by kernel length: F(4, 3) for the 3x3, 1x3 and 3x1 convs (36 products
# and 36 transformed input values per 16 outputs where F(2, 3) takes 64 of each): the whole
# forward 1.02-1.06x the images/s of F(2, 3), features within 2e-5 of it (inception_profile.md).
# F(2, 7) for 1x7 / 7x1: F(3, 7) and F(4, 7) need more interpolation points and gained nothing
# measurable.
WINOGRAD_TILE = {3: 4, 7: 2}
# Compile `apply` with these on CPU (jax.jit(..., compiler_options=...)): XLA:CPU's own dot and
# conv kernels instead of its default YNNPACK fusions, 15.8 against 13.7 images/s on 2 AVX2
# cores (experiments/benchmarks/inception_profile.md).
COMPILER_OPTIONS = xla_cpu.XLA_KERNELS


# ---------------------------------------------------------------------------------------------
# Loading: npz (torch layout, separate BN) -> fused, merged NHWC parameters.

def _fold_bn(npz, name):
  """Conv `name` with its batch norm folded in: kernel (H, W, I, O) and bias (O,), float32."""
  w = npz[name + '.weight'].astype(np.float64)  # (O, I, H, W); fold in float64, round once.
  scale = 1.0 / np.sqrt(npz[name + '.var'].astype(np.float64) + BN_EPS)
  kernel = np.transpose(w, (2, 3, 1, 0)) * scale
  bias = npz[name + '.beta'] - npz[name + '.mean'] * scale
  return kernel, bias


def _merge(convs):
  """Concatenates convs with the same input and kernel size along output channels."""
  return {'kernel': np.concatenate([k for k, _ in convs], -1).astype(np.float32),
          'bias': np.concatenate([b for _, b in convs]).astype(np.float32)}


def _single(conv):
  return _merge([conv])


def _check_padding(meta, npz):
  """The forward pass derives padding from the kernel: 'same' (k//2 per side) for stride-1
  convs, none for stride 2 and for the VALID stem convs. Check this against the graph."""
  valid_stem = ('net.layers.conv_1', 'net.layers.conv_3', 'net.layers.conv_4')
  for key, kind in meta.items():
    if not (isinstance(kind, str) and kind.endswith('Conv2dLayer')):
      continue
    stride, pad = meta[key + '.stride'], meta[key + '.padding']
    pad = [pad, pad] if isinstance(pad, int) else list(pad)
    kh, kw = npz[key + '.weight'].shape[2:]
    expect = [0, 0] if (stride == 2 or key in valid_stem) else [kh // 2, kw // 2]
    if pad != expect:
      raise ValueError(f'Unexpected padding {pad} (stride {stride}) for {key}')


@functools.lru_cache(maxsize=2)
def load_inception_params(path=None):
  """Loads the FID Inception weights into the fused/merged form that `apply` expects.

  Args:
    path: the .npz file, or a data folder that contains `inception_fid/`, or None to search
      (see `data_dir.find`).
  Returns:
    A dict of dicts of float32 jnp arrays ({'kernel': (H, W, I, O), 'bias': (O,)}, and
    'winograd' for the convs run as Winograd tiles on CPU), read and fused once per process
    and path (cached: evaluations during training reuse them).
  """
  if path is None or Path(path).is_dir():
    path = data_dir.find(WEIGHTS_FILE, path) / WEIGHTS_FILE
  path = Path(path)
  npz = np.load(path)
  meta_path = path.with_name(Path(META_FILE).name)
  if meta_path.is_file():
    _check_padding(json.loads(meta_path.read_text()), npz)
  c = functools.partial(_fold_bn, npz)
  L = 'net.layers.'
  p = {'conv': _single(c(L + 'conv')), 'conv_1': _single(c(L + 'conv_1')),
       'conv_2': _single(c(L + 'conv_2')), 'conv_3': _single(c(L + 'conv_3')),
       'conv_4': _single(c(L + 'conv_4'))}
  for b in ('mixed', 'mixed_1', 'mixed_2'):  # InceptionA
    m = L + b + '.'
    p[b] = {'1x1': _merge([c(m + 'conv'), c(m + 'tower.conv'), c(m + 'tower_1.conv'),
                           c(m + 'tower_2.conv')]),
            '5x5': _single(c(m + 'tower.conv_1')),
            '3x3a': _single(c(m + 'tower_1.conv_1')),
            '3x3b': _single(c(m + 'tower_1.conv_2'))}
  m = L + 'mixed_3.'  # InceptionB
  p['mixed_3'] = {'3x3': _single(c(m + 'conv')), '1x1': _single(c(m + 'tower.conv')),
                  '3x3a': _single(c(m + 'tower.conv_1')), '3x3b': _single(c(m + 'tower.conv_2'))}
  for b in ('mixed_4', 'mixed_5', 'mixed_6', 'mixed_7'):  # InceptionC
    m = L + b + '.'
    p[b] = {'1x1': _merge([c(m + 'conv'), c(m + 'tower.conv'), c(m + 'tower_1.conv'),
                           c(m + 'tower_2.conv')]),
            **{f'7x7_{i}': _single(c(m + f'tower.conv_{i}')) for i in (1, 2)},
            **{f'7x7dbl_{i}': _single(c(m + f'tower_1.conv_{i}')) for i in (1, 2, 3, 4)}}
  m = L + 'mixed_8.'  # InceptionD
  p['mixed_8'] = {'1x1': _merge([c(m + 'tower.conv'), c(m + 'tower_1.conv')]),
                  '3x3': _single(c(m + 'tower.conv_1')),
                  **{f'7x7x3_{i}': _single(c(m + f'tower_1.conv_{i}')) for i in (1, 2, 3)}}
  for b in ('mixed_9', 'mixed_10'):  # InceptionE; mixed_10's pool branch is a max pool
    m = L + b + '.'
    ones = [c(m + 'conv'), c(m + 'tower_conv'), c(m + 'tower_1_conv')]
    p[b] = {'1x1': _merge(ones + [c(m + 'tower_2_conv')] if b == 'mixed_9' else ones),
            '1x3': _single(c(m + 'tower_mixed_conv')),
            '3x1': _single(c(m + 'tower_mixed_conv_1')),
            'dbl_3x3': _single(c(m + 'tower_1_conv_1')),
            'dbl_1x3': _single(c(m + 'tower_1_mixed_conv')),
            'dbl_3x1': _single(c(m + 'tower_1_mixed_conv_1'))}
    if b == 'mixed_10':
      p[b]['pool'] = _single(c(m + 'tower_2_conv'))
  return _with_winograd_kernels(jax.tree.map(jnp.asarray, p))


def _is_conv(x):
  return isinstance(x, dict) and 'kernel' in x


def _with_winograd_kernels(params, size=299):
  """params with `winograd.kernel_transform` of each kernel that `apply` ('auto', this backend,
  size x size input) runs as Winograd tiles, beside it as 'winograd'. `apply` runs its convs
  inside `lax.map` loops, where XLA:CPU left most of these transforms to be redone for every
  chunk of images; computed once here: 1.02-1.03x the images/s (inception_profile.md)."""
  chosen = set()

  def trace(params):
    path_of = {id(conv['kernel']): tuple(k.key for k in path) for path, conv in
               jax.tree_util.tree_flatten_with_path(params, is_leaf=_is_conv)[0]}

    def record(x, p, *, stride=1, impl='auto', **kw):
      if (_resolve_impl(p['kernel'].shape, stride, x.shape[2], impl) == 'winograd'
          and id(p['kernel']) in path_of):
        chosen.add(path_of[id(p['kernel'])])
      return _conv(x, p, stride=stride, impl=impl, **kw)
    return apply(params, jnp.zeros((1, size, size, 3), jnp.uint8), conv_fn=record)

  jax.eval_shape(trace, params)
  transform = jax.jit(winograd.kernel_transform, static_argnames=('tile', 'precision'))
  for path in chosen:
    conv = functools.reduce(lambda d, key: d[key], path, params)
    conv['winograd'] = transform(conv['kernel'], tile=_winograd_tile(conv['kernel'].shape),
                                 precision=PRECISION)
  return params


# ---------------------------------------------------------------------------------------------
# Layers (NHWC).

def pick_impl(kernel_shape, stride, use_winograd=True, size=None):
  """Measured on XLA:CPU with XLA's own kernels (2 AVX2 and 2 AVX-512 cores; per-conv tables in
  experiments/benchmarks/inception_profile.md): 1x1 convs are plain matmuls; the 1-D (1x7,
  7x1, 1x3, 3x1) and 3x3 convs on maps wider than 8 run as Winograd tiles (WINOGRAD_TILE),
  1.65-4x fewer multiply-adds as batched dots; XLA's conv wins the rest on both kinds of cores:
  the stride-2 reductions (1.2-2.3x faster than im2col + dot), the 5x5 convs (F(2, 5)'s 36
  planes of tiles cost more to transform than they save; F(4, 5) gained nothing measurable)
  and the 3x3 convs on 8x8 maps (F(2, 3) and F(4, 3) both slower there). size: the input's
  width (None: not known, taken as large). use_winograd=False: the choice without Winograd,
  for comparison."""
  kh, kw, _, _ = kernel_shape
  if kh == kw == 1 and stride == 1:
    return 'im2col'  # A 1x1 conv is one plain dot; nothing to concatenate.
  if stride > 1 or not use_winograd:
    return 'xla'
  if kh == 1 or kw == 1 or (kh == kw == 3 and (size is None or size > 8)):
    return 'winograd'
  return 'xla'


def _winograd_tile(kernel_shape):
  return WINOGRAD_TILE.get(max(kernel_shape[:2]), 2)


def _resolve_impl(kernel_shape, stride, width, impl):
  """The conv form `_conv` runs: 'auto' resolved by `pick_impl` for this backend."""
  kh, kw = kernel_shape[:2]
  if impl == 'auto':
    # Winograd's choice is measured on XLA:CPU only; GPU libraries pick their own algorithms.
    impl = pick_impl(kernel_shape, stride, jax.default_backend() == 'cpu', width)
  if impl == 'winograd' and (stride > 1 or kh * kw == 1):
    impl = 'im2col'  # Winograd tiles stride-1 convs only; a 1x1 conv is a dot already.
  return impl


def _conv(x, p, *, stride=1, same=True, relu=True, impl='auto'):
  """Conv + bias (+ ReLU). 'same' zero-pads by k//2 per side, else no padding.

  impl: 'xla' (lax.conv_general_dilated), 'im2col' (taps concatenated along channels, one
  jnp.dot), 'winograd' (`gan_jax.winograd`, stride-1 convs larger than 1x1; im2col otherwise)
  or 'auto' (per-layer choice, see `pick_impl`). All give the same result up to float32
  rounding.
  """
  kernel, bias = p['kernel'], p['bias']
  kh, kw, cin, cout = kernel.shape
  impl = _resolve_impl(kernel.shape, stride, x.shape[2], impl)
  pads = ((kh // 2, kh // 2), (kw // 2, kw // 2)) if same else ((0, 0), (0, 0))
  if impl == 'winograd':
    # The kernel transformed at load time where it was (_with_winograd_kernels).
    y = winograd.conv(x, kernel, pads, tile=_winograd_tile(kernel.shape), precision=PRECISION,
                      transformed=p.get('winograd'))
  elif impl == 'xla':
    y = jax.lax.conv_general_dilated(x, kernel, (stride, stride), pads,
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                     precision=PRECISION)
  else:
    if any(p for pp in pads for p in pp):
      x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    n, h, w, _ = x.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    if kh * kw > 1 or stride > 1:
      x = im2col.taps(x, range(kh), range(kw), (stride, stride), (ho, wo))
    y = jnp.dot(x.reshape(n * ho * wo, kh * kw * cin), kernel.reshape(kh * kw * cin, cout),
                precision=PRECISION)
    y = y.reshape(n, ho, wo, cout)
  y = y + bias
  return jax.nn.relu(y) if relu else y


def _window_taps(x, axis, stride):
  """The three taps of a size-3 window along `axis`: strided slices of x, one per offset."""
  n_out = (x.shape[axis] - 3) // stride + 1
  return [jax.lax.slice_in_dim(x, i, i + stride * (n_out - 1) + 1, stride, axis)
          for i in range(3)]


# The 3x3 pools below are separable: rows then columns, each a max or sum of three strided
# slices, which XLA fuses into elementwise loops. XLA:CPU's reduce_window took 3.5-5x as long on
# the same shapes (experiments/benchmarks/inception_profile.md). Max is exact; the sums add the
# nine values in another order than reduce_window (float32 rounding, ~1e-7 relative).

def _max_pool(x, *, stride=2, same=False):
  if same:
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-jnp.inf)
  for axis in (1, 2):
    a, b, c = _window_taps(x, axis, stride)
    x = jnp.maximum(jnp.maximum(a, b), c)
  return x


def _avg_pool_exclude_pad(x):
  """3x3, stride 1, padding 1, count_include_pad=False (the FID variant)."""
  h, w = x.shape[1:3]
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  for axis in (1, 2):
    a, b, c = _window_taps(x, axis, 1)
    x = a + b + c
  def counts(n):  # Window cells inside the map along one axis: 2 at an edge, else 3 (1 if n = 1).
    return 1 + (np.arange(n) > 0) + (np.arange(n) < n - 1)
  return x * (1.0 / np.outer(counts(h), counts(w))).astype(np.float32)[None, :, :, None]


def _split(y, sizes):
  return jnp.split(y, np.cumsum(sizes)[:-1], axis=-1)


def _out_channels(p):
  return p['bias'].shape[0]


# ---------------------------------------------------------------------------------------------
# Blocks. Concatenation order follows torchvision / pytorch-fid.

def _block_a(x, p, conv):
  y = conv(p['1x1'], x, relu=False)
  b1, b5, b3, bp = _split(y, [64, 48, 64, y.shape[-1] - 176])
  b5 = conv(p['5x5'], jax.nn.relu(b5))
  b3 = conv(p['3x3b'], conv(p['3x3a'], jax.nn.relu(b3)))
  bp = jax.nn.relu(_avg_pool_exclude_pad(bp))
  return jnp.concatenate([jax.nn.relu(b1), b5, b3, bp], -1)


def _block_b(x, p, conv):
  b3 = conv(p['3x3'], x, stride=2, same=False)
  bd = conv(p['3x3b'], conv(p['3x3a'], conv(p['1x1'], x)), stride=2, same=False)
  return jnp.concatenate([b3, bd, _max_pool(x)], -1)


def _block_c(x, p, conv):
  c7 = _out_channels(p['7x7_1'])
  y = conv(p['1x1'], x, relu=False)
  b1, b7, bd, bp = _split(y, [192, c7, c7, 192])
  b7 = conv(p['7x7_2'], conv(p['7x7_1'], jax.nn.relu(b7)))
  bd = jax.nn.relu(bd)
  for i in (1, 2, 3, 4):
    bd = conv(p[f'7x7dbl_{i}'], bd)
  bp = jax.nn.relu(_avg_pool_exclude_pad(bp))
  return jnp.concatenate([jax.nn.relu(b1), b7, bd, bp], -1)


def _block_d(x, p, conv):
  b3, b7 = _split(conv(p['1x1'], x), [192, 192])
  b3 = conv(p['3x3'], b3, stride=2, same=False)
  b7 = conv(p['7x7x3_3'], conv(p['7x7x3_2'], conv(p['7x7x3_1'], b7)), stride=2, same=False)
  return jnp.concatenate([b3, b7, _max_pool(x)], -1)


def _block_e(x, p, conv, *, max_pool_branch):
  y = conv(p['1x1'], x, relu=False)
  if max_pool_branch:  # mixed_10: max pool does not commute with the conv; keep torch order.
    b1, b3, bd = _split(jax.nn.relu(y), [320, 384, 448])
    bp = conv(p['pool'], _max_pool(x, stride=1, same=True))
  else:
    b1, b3, bd, bp = _split(y, [320, 384, 448, 192])
    b1, b3, bd = jax.nn.relu(b1), jax.nn.relu(b3), jax.nn.relu(bd)
    bp = jax.nn.relu(_avg_pool_exclude_pad(bp))
  b3 = jnp.concatenate([conv(p['1x3'], b3), conv(p['3x1'], b3)], -1)
  bd = conv(p['dbl_3x3'], bd)
  bd = jnp.concatenate([conv(p['dbl_1x3'], bd), conv(p['dbl_3x1'], bd)], -1)
  return jnp.concatenate([b1, b3, bd, bp], -1)


def _stem(params, x, conv):
  """The five convs and two max pools before the first Inception block (299 -> 35 x 35 x 192)."""
  x = conv(params['conv'], x, stride=2, same=False)
  x = conv(params['conv_1'], x, same=False)
  x = conv(params['conv_2'], x)
  x = _max_pool(x)
  x = conv(params['conv_3'], x, same=False)
  x = conv(params['conv_4'], x, same=False)
  return _max_pool(x)


def apply(params, images, *, impl='auto', stem_per_image=None, chunk=None, conv_fn=None):
  """Inception forward pass: images (N, H, W, 3 or 1) in [0, 255] (uint8 or float) -> (N, 2048).

  One channel means grayscale tiled to RGB.
  Any input size >= 75 works; FID uses 299 x 299 (resize first, see `fid.py`). The final
  average pool covers the whole last feature map.

  chunk: images per step of a `lax.map` over the batch (the largest divisor of N up to it);
  None: CHUNK_IMAGES on CPU, the whole batch elsewhere. On CPU a Winograd conv's tiles of a
  few images stay in cache: 15.6 against 15.1 images/s for a batch of 50 at once
  (inception_profile.md). An accelerator would run the map as a serial loop.

  stem_per_image: run the stem one image at a time (lax.map) within a chunk; None: on CPU only.
  The stem's convs have few channels on large maps (32-80 in, 147-149 wide), where XLA:CPU
  reached 15-65 GFLOP/s on a batch of 50 against 100-150 for the blocks' convs; one image's maps
  (2.8 MB per 149x149x32) stay near the core's cache. Same arithmetic, same result.

  conv_fn: stands in for `_conv` (same signature), e.g. to record every conv's input shape
  (experiments/benchmarks/inception_profile.py).
  """
  cpu = jax.default_backend() == 'cpu'
  stem_per_image = cpu if stem_per_image is None else stem_per_image
  n = images.shape[0]
  if chunk is None:
    chunk = CHUNK_IMAGES if cpu else n
  chunk = im2col.chunk_size(n, 1, chunk)  # The largest divisor of n up to `chunk`.
  conv_fn = conv_fn or _conv
  conv = lambda p, x, **kw: conv_fn(x, p, impl=impl, **kw)  # noqa: E731
  first = params['conv']
  if images.shape[-1] == 1:
    # Grayscale tiled to RGB: the three input channels are equal, so summing the first conv's
    # kernel over its input channels is exact and saves the tiling (and 2/3 of that conv).
    first = {'kernel': first['kernel'].sum(axis=2, keepdims=True), 'bias': first['bias']}
  stem_params = {**params, 'conv': first}

  def forward(images):
    x = images.astype(jnp.float32) * (2.0 / 255.0) - 1.0
    if stem_per_image:
      x = jax.lax.map(lambda image: _stem(stem_params, image[None], conv)[0], x)
    else:
      x = _stem(stem_params, x, conv)
    return _blocks(params, x, conv)

  if chunk == n:
    return forward(images)
  out = jax.lax.map(forward, images.reshape(n // chunk, chunk, *images.shape[1:]))
  return out.reshape(n, FEATURE_DIM)


def _blocks(params, x, conv):
  """The eleven blocks and the global average pool: (N, 35, 35, 192) -> (N, 2048)."""
  for b in ('mixed', 'mixed_1', 'mixed_2'):
    x = _block_a(x, params[b], conv)
  x = _block_b(x, params['mixed_3'], conv)
  for b in ('mixed_4', 'mixed_5', 'mixed_6', 'mixed_7'):
    x = _block_c(x, params[b], conv)
  x = _block_d(x, params['mixed_8'], conv)
  x = _block_e(x, params['mixed_9'], conv, max_pool_branch=False)
  x = _block_e(x, params['mixed_10'], conv, max_pool_branch=True)
  return jnp.mean(x, axis=(1, 2))
