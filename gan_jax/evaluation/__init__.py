"""Sample-quality evaluation: the FID Inception-V3 and FID / KID / precision-recall.

The metric families that `gan_jax.evaluate` runs are named here, below both the trainer (which
checks `config.eval` at start-up) and the evaluation itself.
"""
from gan_jax import errors

METRICS = ('inception', 'classifier', 'memorisation')
# Results where lower is better, the candidates for config.eval.best_metric, and their family.
BEST_METRICS = {'fid': 'inception', 'kid': 'inception', 'fcd': 'classifier'}


def parse_metrics(spec) -> tuple:
  """'a,b' or a sequence of names -> a tuple of metric families; unknown names are ConfigErrors."""
  names = tuple(m.strip() for m in (spec.split(',') if isinstance(spec, str) else spec) if m)
  unknown = set(names) - set(METRICS)
  if unknown:
    raise errors.ConfigError(f'Unknown metrics {sorted(unknown)}; choose from {METRICS}.')
  return names
