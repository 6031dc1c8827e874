"""The PyTorch side of gan_step_bench and gpu_bench: the package's nets layer for layer in
torch, and one train step of them (the same losses, optimiser and update order as
`steps.train_step`). NCHW, torch's own layout; BatchNorm momentum 0.1 is flax's 0.9 (the weight
of the new statistic), eps 1e-5 as layers.batch_norm.
"""
import os
import time


def num_threads():
  # XLA:CPU sizes its intra-op pool to the cores this process may run on; torch gets as many.
  return len(os.sched_getaffinity(0))


def torch_nets(net, config, shape):
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  lrelu = lambda: nn.LeakyReLU(0.2)
  if net.startswith('dcgan') and net != 'dcgan_seed32':
    from gan_jax.models import dcgan  # pylint: disable=g-import-not-at-top
    w, k, size = config.dcgan.width, config.dcgan.kernel_size, config.image_size
    assert k == 4 and not config.dcgan.fc_hidden, 'mirrored for kernel 4, no hidden FC layer'
    # SAME for kernel 4, stride 2 on even sizes pads 1 on each side: torch's padding=1.
    n = dcgan.num_upsamplings(size)
    start, features, c = size >> n, w * 2 ** (n - 1), shape[-1]
    g = [nn.Linear(config.latent_dim, start * start * features, bias=False),
         nn.Unflatten(1, (features, start, start)), nn.BatchNorm2d(features), nn.ReLU()]
    for i in range(n - 1):
      g += [nn.ConvTranspose2d(features >> i, features >> (i + 1), 4, 2, 1, bias=False),
            nn.BatchNorm2d(features >> (i + 1)), nn.ReLU()]
    g = nn.Sequential(*g, nn.ConvTranspose2d(w, c, 4, 2, 1), nn.Tanh())
    d = [nn.Conv2d(c, w, 4, 2, 1), lrelu()]
    for i in range(1, n):
      d += [nn.Conv2d(w << (i - 1), w << i, 4, 2, 1, bias=False), nn.BatchNorm2d(w << i),
            lrelu()]
    d = nn.Sequential(*d, nn.Flatten(), nn.Linear(start * start * features, 1))
  elif net == 'dcgan_seed32':
    up = lambda: nn.Upsample(scale_factor=2, mode='nearest')
    g = nn.Sequential(
        nn.Linear(config.latent_dim, 128 * 8 * 8), nn.Unflatten(1, (128, 8, 8)),
        nn.BatchNorm2d(128),
        up(), nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128), lrelu(),
        up(), nn.Conv2d(128, 64, 3, 1, 1), nn.BatchNorm2d(64), lrelu(),
        nn.Conv2d(64, 1, 3, 1, 1), nn.Tanh())
    blocks = []
    for i, (cin, cout) in enumerate([(1, 16), (16, 32), (32, 64), (64, 128)]):
      blocks += [nn.Conv2d(cin, cout, 3, 2, 1), lrelu(), nn.Dropout2d(0.25)]
      blocks += [nn.BatchNorm2d(cout)] if i > 0 else []
    d = nn.Sequential(*blocks, nn.Flatten(), nn.Linear(128 * 2 * 2, 1))
  elif net == 'vanilla':
    layers, cin = [], config.latent_dim
    for width in config.mlp.g_hidden:
      layers += [nn.Linear(cin, width), lrelu(), nn.BatchNorm1d(width)]
      cin = width
    g = nn.Sequential(*layers, nn.Dropout(config.mlp.dropout), nn.Linear(cin, 784), nn.Tanh(),
                      nn.Unflatten(1, (1, 28, 28)))
    layers, cin = [nn.Flatten(), nn.Dropout(config.mlp.dropout)], 784
    for width in config.mlp.d_hidden:
      layers += [nn.Linear(cin, width), lrelu()]
      cin = width
    d = nn.Sequential(*layers, nn.Linear(cin, 1))
  else:
    raise ValueError(net)
  return g, d, torch


class TorchStep:
  """The torch train step as a closure over its nets and optimisers (the one stateful thing
  here, as torch wants it)."""

  def __init__(self, net, config, shape, device='cpu'):
    g, d, torch = torch_nets(net, config, shape)
    torch.manual_seed(0)
    g, d = g.to(device), d.to(device)
    self.torch, self.g, self.d, self.device = torch, g.train(), d.train(), device
    b1, b2 = config.optim.b1, config.optim.b2
    self.g_opt = torch.optim.Adam(g.parameters(), lr=config.optim.g_lr, betas=(b1, b2))
    self.d_opt = torch.optim.Adam(d.parameters(), lr=config.optim.d_lr, betas=(b1, b2))
    self.batch, self.latent_dim, self.prior = config.batch_size, config.latent_dim, config.prior
    self.reuse_fakes = config.get('reuse_fakes', False)
    h, w, c = shape
    self.real = torch.rand(self.batch, c, h, w, device=device) * 2 - 1
    self.ones = torch.ones(self.batch, device=device)
    self.zeros = torch.zeros(self.batch, device=device)
    self.num_params = (sum(p.numel() for p in g.parameters()),
                       sum(p.numel() for p in d.parameters()))

  def latent(self):
    size = (self.batch, self.latent_dim)
    if self.prior == 'uniform':
      return self.torch.rand(size, device=self.device) * 2 - 1
    return self.torch.randn(size, device=self.device)

  def __call__(self):
    torch, g, d = self.torch, self.g, self.d
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    if self.reuse_fakes:  # G's update below reuses these fakes and their graph (as steps).
      fake = g(self.latent())
    else:
      with torch.no_grad():  # As steps.d_step: fakes from G in training mode, no gradient into G.
        fake = g(self.latent())
    self.d_opt.zero_grad(set_to_none=True)
    # Real and fake through D separately, as steps.d_step (each its own BatchNorm batch).
    d_loss = bce(d(self.real)[:, 0], self.ones) + bce(d(fake.detach())[:, 0], self.zeros)
    d_loss.backward()
    self.d_opt.step()
    self.g_opt.zero_grad(set_to_none=True)
    # D frozen for G's update: JAX differentiates w.r.t. G's params only, so torch should not
    # compute D's weight gradients either (input gradients through D are still computed).
    d.requires_grad_(False)
    fake = fake if self.reuse_fakes else g(self.latent())
    g_loss = bce(d(fake)[:, 0], self.ones)  # -log D(G(z)), non-saturating.
    g_loss.backward()
    self.g_opt.step()
    d.requires_grad_(True)
    return d_loss, g_loss


def make_torch_step(net, config, shape, jax_counts):
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(num_threads())
  step = TorchStep(net, config, shape)
  assert step.num_params == jax_counts, (net, step.num_params, jax_counts)
  return step


def torch_runner(step, threads):
  """run(n) -> seconds for n torch steps on `threads` threads (and the step's device)."""
  import torch  # pylint: disable=g-import-not-at-top
  sync = torch.cuda.synchronize if step.device != 'cpu' else lambda: None

  def run(n):
    torch.set_num_threads(threads)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
      step()
    sync()
    return time.perf_counter() - t0
  return run
