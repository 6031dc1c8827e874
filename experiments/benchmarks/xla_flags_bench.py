"""XLA:CPU flags against each other: the float32 matmul peak and one train step, each flag set in
its own process (XLA reads its flags once per process), the sets taking turns round by round so a
load change on a shared machine hits them alike. Prints a markdown table of medians over rounds
and which library ran the step's dots and convs (the compiled step's fusion kinds).

  python experiments/benchmarks/xla_flags_bench.py --net=dcgan --batch=256 --rounds=3 \\
      --flags='' --flags='--xla_cpu_experimental_ynn_fusion_type=' \\
      --flags='--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=individual_dot'
"""
import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child(args):
  sys.path.insert(0, ROOT)
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import gan_step_bench as bench  # pylint: disable=g-import-not-at-top
  peak = bench.matmul_peak(reps=3, with_torch=False)['jax'][1]
  config, shape = bench.get_config(args.net, args.batch)
  compiled, state, batch, _, t_compile = bench.compile_step(config, shape)
  kinds = collections.Counter(re.findall(r'%(ynn|xnn|onednn|dot|convolution|custom-call)[._\w]* =',
                                         compiled.as_text()))
  run = bench.jax_runner(compiled, state, batch)
  n = bench.steps_for(run, args.step_seconds)
  times = [run(n) / n for _ in range(3)]
  print('RESULT' + json.dumps({'peak': peak, 'step_s': statistics.median(times),
                               'compile_s': t_compile, 'kinds': dict(kinds),
                               'jax': jax.__version__}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--flags', action='append', help='one XLA_FLAGS set; repeat the option')
  parser.add_argument('--net', default='dcgan')
  parser.add_argument('--batch', type=int, default=256)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--step_seconds', type=float, default=1.0)
  parser.add_argument('--child', action='store_true')
  args = parser.parse_args()
  if args.child:
    child(args)
    return
  flag_sets = args.flags or ['']
  results = {f: [] for f in flag_sets}
  for r in range(args.rounds):
    for flags in (flag_sets if r % 2 == 0 else flag_sets[::-1]):
      env = {**os.environ, 'XLA_FLAGS': flags, 'JAX_PLATFORMS': 'cpu'}
      t = time.time()
      out = subprocess.run([sys.executable, os.path.abspath(__file__), '--child', '--net',
                            args.net, '--batch', str(args.batch), '--step_seconds',
                            str(args.step_seconds)], env=env, capture_output=True, text=True)
      if 'RESULT' not in out.stdout:
        print(f'{flags!r} failed:\n{out.stderr[-2000:]}', flush=True)
        continue
      res = json.loads(out.stdout.split('RESULT', 1)[1])
      results[flags].append(res)
      print(f'round {r} {flags!r}: peak {res["peak"]:.1f} GFLOP/s, step '
            f'{res["step_s"] * 1e3:.1f} ms ({time.time() - t:.0f} s)', flush=True)
  base = statistics.median(r['step_s'] for r in results[flag_sets[0]]) if results[
      flag_sets[0]] else float('nan')
  print(f'\n{args.net}, batch {args.batch}, {args.rounds} rounds, jax '
        f'{next(iter(r for v in results.values() for r in v), {}).get("jax")}, '
        f'{len(os.sched_getaffinity(0))} cores; medians over rounds.\n')
  print('| XLA_FLAGS | matmul peak GFLOP/s | step ms | vs first | compile s | fusions |')
  print('|---|---|---|---|---|---|')
  for flags, rs in results.items():
    if not rs:
      print(f'| `{flags}` | failed | | | | |')
      continue
    step = statistics.median(r['step_s'] for r in rs)
    kinds = ', '.join(f'{k} {v}' for k, v in sorted(rs[0]['kinds'].items()))
    print(f'| `{flags or "(none)"}` | {statistics.median(r["peak"] for r in rs):.1f} | '
          f'{step * 1e3:.1f} | {base / step:.2f}x | '
          f'{statistics.median(r["compile_s"] for r in rs):.1f} | {kinds} |')


if __name__ == '__main__':
  main()
