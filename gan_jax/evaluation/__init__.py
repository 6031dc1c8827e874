"""Sample-quality evaluation: the FID Inception-V3 and FID / KID / precision-recall."""
