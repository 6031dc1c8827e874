"""The README's reuse snippet runs as written."""
import contextlib
import io
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_readme_snippet_runs_and_trains():
  text = open(os.path.join(ROOT, 'README.md')).read()
  block = re.search(r'<!-- snippet.*?```python\n(.*?)```\s*<!-- /snippet -->', text, re.S)
  code = block.group(1)
  assert len(code.strip().splitlines()) <= 15
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, 'README.md', 'exec'), {})
  step, d_loss, d_real = out.getvalue().split()
  assert int(step) == 3 and float(d_loss) > 0 and 0 < float(d_real) < 1
