"""The players' optimisers: Adam or SGD with momentum, at a constant or linearly decayed rate."""
import optax


def learning_rate_schedule(optim, learning_rate: float, num_train_steps: int = 0,
                           updates_per_step: int = 1) -> optax.ScalarOrSchedule:
  """`learning_rate`, or, with `optim.decay_steps` > 0, that rate held and then decayed linearly to
  0 over the run's last `decay_steps` generator steps. The schedule counts its own player's
  updates, so D's (k = `updates_per_step` per generator step) spans the same generator steps."""
  decay_steps = optim.get('decay_steps', 0)
  if not decay_steps:
    return learning_rate
  if not 0 < decay_steps <= num_train_steps:
    raise ValueError(f'optim.decay_steps={decay_steps} must lie in [0, num_train_steps='
                     f'{num_train_steps}].')
  return optax.linear_schedule(learning_rate, 0.0, decay_steps * updates_per_step,
                               (num_train_steps - decay_steps) * updates_per_step)


def make_optimizer(optim, learning_rate: float, *, num_train_steps: int = 0,
                   updates_per_step: int = 1) -> optax.GradientTransformation:
  """Adam (beta1 = 0.5 for DCGAN) or SGD with momentum (the original paper's choice), at the
  rate of `learning_rate_schedule`."""
  if learning_rate <= 0:
    raise ValueError(f'Learning rates must be positive, got {learning_rate}.')
  learning_rate = learning_rate_schedule(optim, learning_rate, num_train_steps, updates_per_step)
  if optim.name == 'adam':
    return optax.adam(learning_rate, b1=optim.b1, b2=optim.b2)
  if optim.name == 'sgd':
    return optax.sgd(learning_rate, momentum=optim.momentum or None)
  raise ValueError(f'Unknown optimizer {optim.name!r}; choose adam or sgd.')
