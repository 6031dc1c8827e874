"""Errors of the user's making, and how every command line reports them: one line, exit 1.

A leaf module, so that the trainer, the checkpoint code and the evaluation and sampling tools
raise and report the same classes without importing each other.
"""
import sys

from absl import logging

from gan_jax import data_dir
from gan_jax import distributed


class ConfigError(ValueError):
  """A setting, a flag, or its combination with the data or the workdir, that cannot run.

  The command lines report these as one line and exit non-zero; anything else stays a traceback.
  """


class ArchitectureMismatchError(ConfigError):
  """The workdir holds a checkpoint of a different architecture than the config builds."""


class WorkdirError(ConfigError):
  """The workdir lacks what a tool needs: its config.json, or a checkpoint (of the step asked)."""


class CheckpointError(RuntimeError):
  """Checkpoints exist in the workdir but none of them can be read."""


# Errors of the user's making (settings, data, workdir, divergence): one line and exit 1.
# Anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, CheckpointError, data_dir.DataUnavailableError,
               distributed.DistributedInitError, FloatingPointError)


def run_or_exit(fn, *args, **kwargs):
  """Calls fn(*args, **kwargs); a USER_ERRORS exception becomes one logged line and exit 1."""
  try:
    return fn(*args, **kwargs)
  except USER_ERRORS as e:
    logging.error('%s: %s', type(e).__name__, e)
    sys.exit(1)
