"""Sanity checks of the FID pipeline on real data: FID(MNIST train[:n] vs test[:n]) and
FID(test vs itself) (must be ~0), plus KID and precision/recall on the same features.

  GAN_JAX_DATA_DIR=/work/shared/data PYTHONPATH=. python experiments/fid_checks.py --count 10000

Images come through tfds like the trainer's (gan_jax.input_pipeline), and the test features go
through the reference-statistics cache under the key `gan_jax.evaluate` uses ('mnist@28', 'test',
count), so evaluating a GAN afterwards reuses them and a second run only recomputes train.
"""
import argparse
import time

import ml_collections

from gan_jax import input_pipeline
from gan_jax.evaluation import fid
from gan_jax.evaluation import inception


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--count', type=int, default=10000, help='images per set')
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--cache_dir', default=None)
  parser.add_argument('--kid_subsets', type=int, default=100)
  args = parser.parse_args()

  dataset = ml_collections.ConfigDict({'name': 'mnist', 'tfds_dir': '', 'local_mirror': ''})
  train = input_pipeline.load_split(dataset, split='train')['image'][:args.count]
  test = input_pipeline.load_split(dataset, split='test')['image'][:args.count]
  params = inception.load_inception_params(args.data_dir)
  extract = lambda images: fid.extract_features(  # noqa: E731
      images, params=params, batch_size=args.batch_size)

  start = time.perf_counter()
  # The key evaluate.reference_source gives MNIST at 28x28, so the two share one cache entry.
  source = {'dataset': 'mnist', 'split': 'test', 'count': len(test), 'shape': [28, 28, 1],
            'image_size': 28, 'resize': 'bilinear'}
  ref = fid.reference_statistics(lambda: extract(test), source=source, cache_dir=args.cache_dir)
  t_test = time.perf_counter() - start
  start = time.perf_counter()
  train_features = extract(train)
  t_train = time.perf_counter() - start

  start = time.perf_counter()
  metrics = fid.all_metrics(ref['features'], train_features, kid_subsets=args.kid_subsets)
  self_fid = fid.frechet_distance(ref['mu'], ref['sigma'], ref['mu'], ref['sigma'])
  t_metrics = time.perf_counter() - start
  print(f'count={args.count}  inception: test {t_test:.0f}s (0 if cached), '
        f'train {t_train:.0f}s ({len(train) / t_train:.1f} img/s); metrics {t_metrics:.0f}s')
  print(f'FID(train[:{len(train)}], test[:{len(test)}]) = {metrics["fid"]:.4f}')
  print(f'FID(test, test) = {self_fid:.2e}')
  print(f'KID = {metrics["kid"]:.5f} +- {metrics["kid_std"]:.5f}  '
        f'precision = {metrics["precision"]:.4f}  recall = {metrics["recall"]:.4f}')


if __name__ == '__main__':
  main()
