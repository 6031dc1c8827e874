"""One process of a multi-process CPU run, started by test_multihost.py (not collected by pytest).

  python -m tests.multihost_worker PROCESS_ID NUM_PROCESSES PORT WORKDIR NUM_STEPS [TIMEOUT_S
      [PARALLEL]]

Joins the run on 127.0.0.1:PORT (NUM_PROCESSES=1: no distributed runtime), trains the tiny DCGAN
in WORKDIR with train.train_and_evaluate (resuming from WORKDIR), and process 0 prints the final
params as JSON after RESULT.
"""
import json
import sys

import jax
import numpy as np

from gan_jax import distributed, train
from tests.conftest import tiny


def main():
  process_id, num_processes, port, workdir, num_steps = sys.argv[1:6]
  timeout_s = int(sys.argv[6]) if len(sys.argv) > 6 else 60
  parallel = sys.argv[7] if len(sys.argv) > 7 else 'pmap'
  distributed.initialize('on' if int(num_processes) > 1 else 'off',
                         coordinator_address=f'127.0.0.1:{port}',
                         num_processes=int(num_processes), process_id=int(process_id),
                         timeout_s=timeout_s)
  from configs import dcgan
  config = tiny(dcgan.get_config(), batch_size=16, num_d_steps=2, num_train_steps=int(num_steps),
                log_every_steps=2, sample_every_steps=4, checkpoint_every_steps=4, parallel=parallel,
                # Multi-process runs keep XLA:CPU's default kernels (xla_cpu.step_options); so
                # does the one-process reference, so that only the process layout differs.
                xla_cpu_kernels='ynnpack')
  state = train.train_and_evaluate(config, workdir)
  params = [np.asarray(x).ravel().tolist() for x in jax.tree.leaves((state.g_params,
                                                                      state.d_params))]
  if jax.process_index() == 0:
    print('RESULT' + json.dumps({'step': int(state.step), 'devices': jax.device_count(),
                                 'params': params}), flush=True)


if __name__ == '__main__':
  main()
