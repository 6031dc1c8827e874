"""Several train steps per host call (`config.steps_per_call`), for accelerators: dispatch and
the host's sync are paid once per call."""
import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax import steps
from gan_jax.models.layers import AXIS


def multi_step(state: steps.GANState, batches: steps.Batch, *, steps_per_call: int,
               unroll: bool = True,
               **train_step_kwargs) -> Tuple[steps.GANState, steps.Metrics]:
  """`steps_per_call` train_steps in one host call, to pay dispatch and host sync once per call.

  `batches` leaves have a leading axis of size `steps_per_call` before train_step's k axis:
  `batches['image']` is (steps_per_call, k, B, ...). Metrics come back stacked, (steps_per_call,).
  `unroll=False` uses lax.scan instead (smaller program, faster compile) for measuring it; see
  make_multi_step for why the default is the unrolled loop.
  """
  step = functools.partial(steps.train_step, **train_step_kwargs)
  if not unroll:
    return jax.lax.scan(step, state, batches)
  metrics = []
  for i in range(steps_per_call):
    state, m = step(state, jax.tree.map(lambda x, i=i: x[i], batches))
    metrics.append(m)
  return state, jax.tree.map(lambda *v: jnp.stack(v), *metrics)


def make_multi_step(config, steps_per_call: int, *, axis_name: Optional[str] = AXIS,
                    unroll: bool = True):
  """`multi_step` with the config's static choices bound, like make_train_step.

  Unrolled by default, like train_step's k loop: on XLA:CPU (jax 0.10.2) the 28x28 DCGAN step
  inside lax.scan ran ~40x slower (11.5 s vs 0.29 s, 4 steps per call). Neither form beat one call
  per step on CPU (DCGAN unrolled 0.32 s/step, MLP unrolled 38 ms vs 27 ms; gan_step_bench.py):
  dispatch costs microseconds against steps of tens of ms. It is meant for accelerators.
  """
  if steps_per_call < 1:
    raise ValueError(f'steps_per_call must be positive, got {steps_per_call}.')
  single = steps.make_train_step(config, axis_name=axis_name)
  return functools.partial(multi_step, steps_per_call=steps_per_call, unroll=unroll,
                           **single.keywords)
