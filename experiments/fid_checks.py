"""Sanity checks of the FID pipeline on real data: FID(MNIST train[:n] vs test[:n]) and
FID(test vs itself) (must be ~0), plus KID and precision/recall on the same features.

  GAN_JAX_DATA_DIR=/work/shared/data PYTHONPATH=. python experiments/fid_checks.py --count 10000

Test features go through the reference-statistics cache (dataset 'mnist', split 'test'), so a
second run only recomputes the train features.
"""
import argparse
import time

import numpy as np

from gan_jax.evaluation import fid
from gan_jax.evaluation import idx
from gan_jax.evaluation import inception


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--count', type=int, default=10000, help='images per set')
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--cache_dir', default=None)
  parser.add_argument('--kid_subsets', type=int, default=100)
  args = parser.parse_args()

  data_dir = inception.find_data_dir(args.data_dir, required='mnist/t10k-images-idx3-ubyte.gz')
  train = idx.load_mnist_images(data_dir, 'train')[:args.count]
  test = idx.load_mnist_images(data_dir, 'test')[:args.count]
  params = inception.load_inception_params(args.data_dir)
  extract = lambda images: fid.extract_features(  # noqa: E731
      images, params=params, batch_size=args.batch_size)

  start = time.perf_counter()
  ref = fid.reference_statistics(lambda: extract(test), dataset='mnist', split='test',
                                 count=len(test), cache_dir=args.cache_dir)
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
