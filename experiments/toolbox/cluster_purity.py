"""How well the k-means clusters of `config.clusters` (gan_jax/clusters.py) follow the classes
they never see: purity (the share of images whose cluster's most common class is their own),
the clusters' shares, k-means' time, and per cluster its most common class. Not a test; e.g.

  python experiments/toolbox/cluster_purity.py --dataset=mnist --ks=10,20,30,50
"""
import argparse
import time

import numpy as np

from configs import default
from gan_jax import clusters
from gan_jax import input_pipeline


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dataset', default='mnist')
  parser.add_argument('--ks', default='10,20,30,50')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  config = default.get_config()
  config.dataset.name = args.dataset
  data = input_pipeline.load_split(config.dataset, image_size=config.image_size)
  print('| k | purity | shares | seconds | most common class per cluster (its share of it) |\n'
        '|---|---|---|---|---|')
  for k in (int(k) for k in args.ks.split(',')):
    start = time.time()
    out = clusters.relabel(data, k, seed=args.seed)
    seconds = time.time() - start
    # counts[cluster, class], one bincount over the (cluster, class) pairs.
    counts = np.bincount(out['label'] * data['num_classes'] + data['label'],
                         minlength=k * data['num_classes']).reshape(k, data['num_classes'])
    purity = counts.max(1).sum() / len(data['label'])
    top = ' '.join(f'{c.argmax()}({c.max() / c.sum():.2f})' for c in counts)
    probs = out['label_probs']
    print(f'| {k} | {purity:.3f} | {probs.min():.4f}-{probs.max():.4f} | {seconds:.1f} | {top} |',
          flush=True)


if __name__ == '__main__':
  main()
