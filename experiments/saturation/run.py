"""Saturating log(1 - D(G(z))) vs non-saturating -log D(G(z)) early in training, on MNIST.

  PYTHONPATH=. python experiments/saturation/run.py [--num_steps=1000]

From one initial state, D is first trained alone (G fixed) until it confidently rejects G's
samples, as early in training. Then, from that same state, G is trained with each loss (k = 1).
At a few steps the ratio of G's gradient norms (`g_grad_norm` of `steps.g_step`) of the two losses
is measured on the same (D, G) and the same z. Writes saturation.png, samples_*.png and results.json.
"""
import json
import os

from absl import app
from absl import flags
import jax
import numpy as np

from configs import vanilla
from experiments import common
from gan_jax import images
from gan_jax import input_pipeline
from gan_jax import steps

flags.DEFINE_string('out', os.path.dirname(os.path.abspath(__file__)), 'Output folder.')
flags.DEFINE_integer('num_steps', 1000, 'Generator updates per loss.')
flags.DEFINE_integer('d_pretrain_steps', 100, 'D updates alone before G starts.')
FLAGS = flags.FLAGS


def get_config():
  config = vanilla.get_config()  # The seed's MLP GAN, z ~ U(-1, 1), Adam(2e-4, 0.5).
  config.batch_size = 64
  return config


@jax.jit
def gradient_norms(state, batch):
  """g_grad_norm and D(G(z)) of both losses on the same state, z and batch (no update kept)."""
  out = {}
  for loss in ('minimax', 'non_saturating'):
    _, m = steps.g_step(state, batch, loss=loss)
    out[loss] = m['g_grad_norm']
  out['d_fake'] = m['g_fake']
  return out


def main(argv):
  del argv
  config = get_config()
  data, state = common.load(config)
  x = jax.numpy.asarray(input_pipeline.to_model_range(data['image']))
  state, d_metrics = common.d_steps(state, x, num_steps=FLAGS.d_pretrain_steps,
                                    batch_size=config.batch_size)
  probe = {'image': x[:config.batch_size]}
  at_start = jax.device_get(gradient_norms(state, probe))
  results = {'after_d_pretraining': {
      'd_pretrain_steps': FLAGS.d_pretrain_steps, 'D(G(z))': float(at_start['d_fake']),
      'D(x)': float(d_metrics['d_real'][-1]),
      'g_grad_norm_minimax': float(at_start['minimax']),
      'g_grad_norm_non_saturating': float(at_start['non_saturating']),
      'ratio_non_saturating_over_minimax': float(at_start['non_saturating'] / at_start['minimax'])}}
  curves, ratios = {}, {}
  probe_steps = [0, 10, 50, 200, FLAGS.num_steps]  # Multiples of 10.
  for loss in ('minimax', 'non_saturating'):
    config.loss = loss
    s, done, hist, r = state, 0, [], []
    for stop in probe_steps[1:]:
      s, h = common.run(config, s, x, stop - done, chunk=10)  # One compilation per loss.
      hist.append(h)
      done = stop
      g = jax.device_get(gradient_norms(s, probe))
      r.append({'step': stop, 'D(G(z))': float(g['d_fake']),
                'g_grad_norm_minimax': float(g['minimax']),
                'g_grad_norm_non_saturating': float(g['non_saturating'])})
    curves[loss] = {k: np.concatenate([h[k] for h in hist]) for k in hist[0]}
    ratios[loss] = r
    z = steps.sample_latent(jax.random.PRNGKey(0), 64, s.latent_dim, s.prior)
    grid = images.make_grid(np.asarray(steps.generate_samples(s, z)), nrow=8)
    images.save_png(os.path.join(FLAGS.out, f'samples_{loss}.png'), grid)
  results['trained_with'] = ratios
  results['final_D(G(z))_mean_last_50'] = {
      loss: float(curves[loss]['g_fake'][-50:].mean()) for loss in curves}
  plot(curves, os.path.join(FLAGS.out, 'saturation.png'))
  with open(os.path.join(FLAGS.out, 'results.json'), 'w') as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))


def plot(curves, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 3, figsize=(11, 3))
  for loss, c in curves.items():
    t = np.arange(1, len(c['g_fake']) + 1)
    axes[0].plot(t, c['g_fake'], label=loss, lw=0.8)
    axes[1].semilogy(t, c['g_grad_norm'], label=loss, lw=0.8)
    axes[2].plot(t, c['d_real'], label=loss, lw=0.8)
  axes[0].set_title('D(G(z)) in the G step')
  axes[1].set_title("G's gradient norm (its own loss)")
  axes[2].set_title('D(x)')
  for ax in axes:
    ax.set_xlabel('generator step')
    ax.set_xscale('log')
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


if __name__ == '__main__':
  app.run(main)
