"""The generator's upsampling layer, kept behind one small module.

On XLA:CPU the kernel gradient of a strided `nn.ConvTranspose` is ~20x slower than its forward
pass, so this module is the single place where a faster, exactly equivalent computation goes.
"""
from typing import Any, Callable

import flax.linen as nn


class Upsample(nn.Module):
  """A fractional-strided (transposed) convolution with `nn.ConvTranspose`'s parameters.

  Holds a `kernel` of shape (k, k, in, out) (and `bias` if `use_bias`), exactly as
  `nn.ConvTranspose` does, so checkpoints are interchangeable between implementations.
  """
  features: int
  kernel_size: int = 4
  strides: int = 2
  padding: Any = 'SAME'
  use_bias: bool = False
  kernel_init: Callable = nn.initializers.normal(0.02)
  impl: str = 'auto'  # 'conv_transpose' | 'subpixel' | 'auto' (the fast path lands here).

  @nn.compact
  def __call__(self, x):
    return nn.ConvTranspose(
        self.features, (self.kernel_size, self.kernel_size), (self.strides, self.strides),
        padding=self.padding, use_bias=self.use_bias, kernel_init=self.kernel_init,
        name='conv')(x)
