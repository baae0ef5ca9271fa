"""tutorial_lib: the companion library of "Deep generative models for images, built from scratch".

Modules, in the order the course introduces them:

- ``data``: image data sets in [-1, 1] and the pixel conversions (notebook 00)
- ``samples``: the ``.npz`` format of samples and of your own images (notebook 00)
- ``mnist10k``: MNIST's test split, bundled, md5-checked, with the course's fixed split (notebook 00)
- ``toy``: 2-D toy distributions with exact densities where they exist, and oracles with exact
  answers: probabilistic PCA and the optimal denoisers of Gaussian mixtures (notebooks 00-05)
- ``plotting``: image grids, curves, 2-D plots (notebook 00)
- ``training``: one training loop with a progress bar (notebook 00)
- ``utils``: seeding, devices, atomic checkpoints, the shipped checkpoints (notebook 00)
- ``families``: the registry of model families and the interface they share (notebook 00)
- ``cli``: the command line, ``python -m tutorial_lib`` (notebook 00)
- ``nets``: every network: generators, discriminators, denoisers, the classifier (notebooks 01-05)
- ``gan``: the GAN family: losses, training step, training, sampling (notebook 01)
- ``likelihoods``: distributions over a pixel's grey levels, the discretised logistic and
  Gaussian (notebooks 02, 06)
- ``vae``: the VAE family: encoder, decoder, ELBO and IWAE bounds (notebook 02)
- ``diffusion``: schedules, q(x_t | x_0), the posterior, the simple loss, the DDPM and DDIM
  samplers, classifier-free guidance; the network is an argument (notebooks 03 to 05)
- ``ddpm``: the DDPM family: config, training, sampling, the variational bound (notebooks 04, 05)
- ``metrics``: the classifier family, Fréchet distance, precision and recall, likelihood bounds
  (notebooks 05, 06)
- ``widgets``: step-by-step explorers behind ipywidgets sliders (notebooks 01 to 05)
- ``checks``: feedback on the exercises, one module per lesson (notebooks 01 to 05)
"""

__version__ = "0.1.0"
