"""Goodfellow et al. (2014), Figure 1 and Section 4, with the package's MLPs and steps.

  PYTHONPATH=. python experiments/toy1d/run.py [--out=experiments/toy1d]

Writes figure1.png (data density black dotted, G's density green, D blue dashed, D* thin red, at
several stages) and results.json (D vs D*, D vs 1/2, V vs -log 4, C(G) and the JSD estimate).
"""
import json
import os

from absl import app
from absl import flags
import jax
import numpy as np

from configs import toy1d
from experiments import common
from gan_jax import toy

FLAGS = flags.FLAGS


def define_flags():
  # Only when run as a script: tests import this module beside gan_jax.sample, whose --out and
  # --seed would otherwise be defined twice.
  flags.DEFINE_string('out', os.path.dirname(os.path.abspath(__file__)), 'Output folder.')
  flags.DEFINE_integer('seed', 0, 'Seed of the run.')

# G samples for p_g's KDE and the Monte Carlo V. With as many true N(0.3, 0.15) samples the KDE
# alone puts D* within 0.016 of 1/2 over +- 2.5 std (0.026 with 51,200), a third of the goal.
NUM_SAMPLES = 256_000


def get_config(seed=0):
  config = toy1d.get_config()
  config.seed = seed
  return config


def fixed_g_config(seed=0):
  """Proposition 1's fixed G: the same MLP with leaky-ReLU units, at its initialisation.

  Its range covers the data's support, so p_g and D* are continuous there. The tanh G's initial
  range ends inside the support (near 0.55 in seed 0, 0.33 in seed 2): p_g piles up at that end
  and drops to 0, D* jumps to 1, and no continuous D follows a jump (max |D - D*| 0.26 / 0.04 /
  0.20 over seeds 0-2, README).
  """
  config = get_config(seed)
  config.mlp.g_activation = 'leaky_relu'
  return config


def support(config, num_std=2.5, num=401):
  """The grid where D is compared with D*: the data's mean +- `num_std` std."""
  m, s = config.dataset.mean, config.dataset.std
  return np.linspace(m - num_std * s, m + num_std * s, num)


def densities(config, state, x, rng=jax.random.PRNGKey(123)):
  """(p_data, p_g (KDE of G's samples), D) on the grid `x`, and G's samples."""
  g = np.asarray(common.generator_samples(state, rng, num=NUM_SAMPLES,
                                          batch_size=config.batch_size)).reshape(-1)
  p_data = toy.gaussian_pdf(x, config.dataset.mean, config.dataset.std)
  p_g = toy.kde_pdf(g, x)
  d = np.asarray(jax.nn.sigmoid(common.discriminator_logits(state, x[:, None].astype(np.float32))))
  return p_data, p_g, d, g


# (first step, G's lr factor, D's lr factor): factors of the config's rates, which hold before the
# first entry. Annealing G's rate while D keeps its own lets D catch up with each G before G moves
# again: the theory measures D against D*_G, and D, not G, is the slow one on G's density
# ripples. Over 3 seeds the end-of-training max |D - D*| went from 0.10-0.15 (both rates / 10 at
# 6,000) to 0.037-0.067 (README). D's last drop, at 9,500, averages out more of its minibatch
# noise: over 5 seeds with tanh units in G, 0.020-0.051 without it, 0.018-0.047 with it.
SCHEDULE = ((6000, 0.1, 1.0), (7000, 0.05, 1.0), (8000, 0.02, 1.0),
            (9000, 0.005, 0.1), (9500, 0.005, 0.02))


def with_learning_rates(config, state, g_factor, d_factor):
  """Both optimisers at factors of the config's rates."""
  return common.with_learning_rates(config, state, config.optim.g_lr * g_factor,
                                    config.optim.d_lr * d_factor)


def d_vs_dstar(config, state, num_std):
  p_data, p_g, d, _ = densities(config, state, support(config, num_std))
  return float(np.max(np.abs(d - toy.optimal_discriminator(p_data, p_g))))


def measure(config, state, data_x):
  """Section 4's quantities for the current (D, G)."""
  x = support(config)
  p_data, p_g, d, g = densities(config, state, x)
  d_star = toy.optimal_discriminator(p_data, p_g)
  central = np.abs(x - config.dataset.mean) <= 1.5 * config.dataset.std
  wide = np.linspace(-1.0, 1.0, 2001)  # G's whole range (tanh) for the JSD.
  jsd = toy.jsd(wide, toy.gaussian_pdf(wide, config.dataset.mean, config.dataset.std),
                toy.kde_pdf(g, wide))
  real_logits = np.asarray(common.discriminator_logits(state, data_x))
  fake_logits = np.asarray(common.discriminator_logits(state, g[:, None]))
  v = toy.value_from_logits(real_logits, fake_logits)
  return {
      'max_abs_d_minus_dstar': float(np.max(np.abs(d - d_star))),
      'max_abs_d_minus_dstar_central_1.5std': float(np.max(np.abs(d - d_star)[central])),
      'max_abs_d_minus_half': float(np.max(np.abs(d - 0.5))),
      'max_abs_dstar_minus_half': float(np.max(np.abs(d_star - 0.5))),
      'value_V': v, 'V_plus_log4': v + toy.LOG4,
      'jsd': jsd, 'C_of_G': -toy.LOG4 + 2 * jsd,
      'g_mean': float(g.mean()), 'g_std': float(g.std()),
  }


def d_alone(config, state, x_data, num_steps=3000):
  """G fixed, D trained alone (num_steps at the config's lr, then as many at a tenth)."""
  state, _ = common.d_steps(state, x_data, num_steps=num_steps, batch_size=config.batch_size)
  state = with_learning_rates(config, state, 0.1, 0.1)
  state, _ = common.d_steps(state, x_data, num_steps=num_steps, batch_size=config.batch_size)
  return state


def proposition1(config, state, x_data, num_steps=3000):
  """G fixed, D trained alone: returns the new state and max |D - D*| on the data's support."""
  state = d_alone(config, state, x_data, num_steps)
  return state, d_vs_dstar(config, state, 2.5)


def train(config, state, x_data, stages=(0, 300, 1500, 6000), schedule=SCHEDULE):
  """Joint training from the initial `state` with the learning rates of `schedule`.

  Returns the final state, the snapshots for the figure and the per-step metrics.
  """
  rates = {start: (g, d) for start, g, d in schedule}
  snapshots, history, done = [], [], 0
  for stop in sorted(set(stages) | set(rates) | {config.num_train_steps}):
    if stop > done:
      state, h = common.run(config, state, x_data, stop - done)
      history.append(h)
      done = stop
    if done in rates:
      state = with_learning_rates(config, state, *rates[done])
    if done in stages:
      snapshots.append((f'step {done}', state))
  snapshots.append((f'step {done}', state))
  return state, snapshots, {k: np.concatenate([h[k] for h in history]) for k in history[0]}


def plot(config, panels, path):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  x = np.linspace(-1.0, 1.0, 801)
  fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), sharey=True)
  for ax, (title, state) in zip(axes, panels):
    p_data, p_g, d, g = densities(config, state, x)
    scale = 1.0 / p_data.max()  # Densities scaled to peak 1 so that they share D's axis.
    ax.plot(x, p_data * scale, 'k:', lw=2, label='p_data')
    ax.plot(x, p_g * scale, 'g-', lw=1.5, label='p_g (KDE of G(z))')
    ax.plot(x, d, 'b--', lw=1.5, label='D(x)')
    ax.plot(x, toy.optimal_discriminator(p_data, p_g), 'r-', lw=0.7, alpha=0.6, label='D*(x)')
    ax.set_title(title, fontsize=9)
    ax.set_ylim(-0.05, 1.25)
    ax.set_xlim(-0.6, 1.0)
  axes[0].legend(fontsize=6, loc='upper left')
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def main(argv):
  del argv
  config = get_config(FLAGS.seed)
  data, state0 = common.load(config)
  x_data = jax.numpy.asarray(data['image'])
  # Proposition 1: a G fixed at its initialisation, D alone converges to D*.
  prop1_config = fixed_g_config(FLAGS.seed)
  prop1_state, prop1_err = proposition1(prop1_config, common.initial_state(prop1_config, data),
                                        x_data)
  state, snapshots, history = train(config, state0, x_data)
  results = {'proposition1_max_abs_d_minus_dstar': prop1_err,
             'after_training': measure(config, state, np.asarray(data['image']))}
  # Then D alone on the final G, the inner loop run to convergence.
  state_d = d_alone(config, state, x_data)
  results['after_training_then_d_alone'] = measure(config, state_d, np.asarray(data['image']))
  results['config'] = {'data': f'N({config.dataset.mean}, {config.dataset.std})',
                       'z': 'U(-1, 1)', 'g_hidden': list(config.mlp.g_hidden),
                       'g_activation': config.mlp.g_activation,
                       'd_hidden': list(config.mlp.d_hidden), 'steps': config.num_train_steps,
                       'k': config.num_d_steps, 'loss': config.loss, 'batch': config.batch_size,
                       'lr': [config.optim.g_lr, config.optim.d_lr]}
  panels = [('(a) G fixed at init (leaky ReLU),\nD alone (Proposition 1)', prop1_state)] + [
      (f'({"bcdefg"[i]}) {t}', s) for i, (t, s) in enumerate(snapshots[1:])] + [
      (f'({"bcdefg"[len(snapshots) - 1]}) end, then D alone', state_d)]
  os.makedirs(FLAGS.out, exist_ok=True)
  plot(config, panels, os.path.join(FLAGS.out, 'figure1.png'))
  with open(os.path.join(FLAGS.out, 'results.json'), 'w') as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results, indent=2))


if __name__ == '__main__':
  define_flags()
  app.run(main)
