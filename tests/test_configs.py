"""Every command in a config's docstring builds its config, and sets only fields the trainer
knows (a misspelt field would otherwise be added silently and ignored). The in-memory sources
(gan_jax/sources.py: the toy distributions) read fields of their own under `dataset`."""
import importlib
import pathlib
import re

import pytest
from flax import traverse_util

from configs import default
from gan_jax import sources

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMAND = re.compile(r'--config=configs/(\w+)\.py(?::(\S+))?')


def _flat_keys(config):
  return set(traverse_util.flatten_dict(config.to_dict(), sep='.'))


def _documented():
  for path in sorted((ROOT / 'configs').glob('*.py')):
    module = importlib.import_module(f'configs.{path.stem}')
    for name, arg in COMMAND.findall(module.__doc__ or ''):
      if name == path.stem:
        yield pytest.param(module, arg or None, id=f'{name}:{arg}')


@pytest.mark.parametrize('module,arg', list(_documented()))
def test_documented_config_builds_with_known_fields_only(module, arg):
  config = module.get_config(arg) if arg else module.get_config()  # As config_flags calls it.
  unknown = _flat_keys(config) - _flat_keys(default.get_config())
  if config.dataset.name in sources.SOURCES:
    unknown = {key for key in unknown if not key.startswith('dataset.')}
  assert not unknown, f'fields not in configs/default.py: {sorted(unknown)}'
  assert config.num_train_steps > 0 and config.batch_size > 0


def test_every_config_documents_a_command():
  undocumented = [path.name for path in (ROOT / 'configs').glob('*.py')
                  if path.name != '__init__.py' and
                  f'configs/{path.name}' not in path.read_text()]
  assert not undocumented
