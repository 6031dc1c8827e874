"""Joining JAX's multi-process runtime (`jax.distributed`) before anything touches a device.

One process per host (TPU VM worker, GPU machine or SLURM task); all of them run the same command.
On TPU VMs, SLURM and Open MPI `jax.distributed.initialize()` finds its peers by itself; elsewhere
it needs the coordinator's address, the number of processes and this process's id.
"""
import os
import socket
import time
from typing import Optional

from absl import logging
import jax


class DistributedInitError(RuntimeError):
  """The processes of a multi-process run did not find each other."""


def cluster_detected() -> bool:
  """Whether the environment describes a multi-process job that jax can join on its own."""
  env = os.environ
  return bool(env.get('JAX_COORDINATOR_ADDRESS')
              or int(env.get('SLURM_NTASKS', '1') or 1) > 1
              or int(env.get('OMPI_COMM_WORLD_SIZE', '1') or 1) > 1
              or ',' in env.get('TPU_WORKER_HOSTNAMES', ''))


def initialize(mode: str = 'auto', *, coordinator_address: Optional[str] = None,
               num_processes: Optional[int] = None, process_id: Optional[int] = None,
               timeout_s: int = 300) -> bool:
  """Calls `jax.distributed.initialize` when `mode` asks for it; returns whether it did.

  mode: 'off' never; 'on' always (arguments left None are auto-detected by jax); 'auto' when a
  coordinator address is given or `cluster_detected()`. A peer that does not join within
  `timeout_s` seconds is a `DistributedInitError`, not a hang.
  """
  if mode not in ('auto', 'on', 'off'):
    raise ValueError(f'--distributed={mode!r}: choose auto, on or off.')
  if mode == 'off' or (mode == 'auto' and not coordinator_address and not cluster_detected()):
    return False
  if coordinator_address and process_id:  # Not the coordinator: is anyone listening there?
    _wait_for_coordinator(coordinator_address, timeout_s)
  # When a peer never joins, jax's runtime aborts the process (C++, not catchable) after the
  # timeout with DEADLINE_EXCEEDED; this line says beforehand what that will mean.
  logging.warning('Joining a %s-process run via %s; if a process is missing this fails after '
                  '%d s with DEADLINE_EXCEEDED.', num_processes or 'auto-detected',
                  coordinator_address or 'auto-detection', timeout_s)
  try:
    jax.distributed.initialize(coordinator_address=coordinator_address or None,
                               num_processes=num_processes, process_id=process_id,
                               initialization_timeout=timeout_s,
                               heartbeat_timeout_seconds=max(10, min(timeout_s, 100)),
                               shutdown_timeout_seconds=max(10, min(timeout_s, 300)))
  except Exception as e:  # jax raises several types (RuntimeError, XlaRuntimeError, ValueError).
    first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
    raise DistributedInitError(
        f'jax.distributed.initialize failed (coordinator={coordinator_address or "auto"}, '
        f'num_processes={num_processes}, process_id={process_id}, timeout {timeout_s} s): '
        f'{first}. Start all processes with the same --coordinator_address and '
        f'--num_processes, each with its own --process_id.') from e
  logging.warning('Joined a %d-process run as process %d (%d global devices).',
               jax.process_count(), jax.process_index(), jax.device_count())
  return True


def _wait_for_coordinator(address: str, timeout_s: int) -> None:
  host, port = address.rsplit(':', 1)
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      socket.create_connection((host, int(port)), timeout=2).close()
      return
    except OSError as e:
      if time.monotonic() > deadline:
        raise DistributedInitError(
            f'No coordinator at {address} after {timeout_s} s ({e}). Start process 0 with '
            f'--coordinator_address={address}, or fix the address.') from None
      time.sleep(0.5)  # A bounded poll of a peer that is still starting.
