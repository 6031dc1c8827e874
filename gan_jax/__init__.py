"""gan_jax: GANs in JAX/Flax (vanilla MLP GAN, DCGAN, conditional GAN)."""
