"""tutorial_lib: the companion library of "Deep generative models for images, built from scratch".

Modules, in the order the course introduces them:

- ``data``: image data sets in [-1, 1] and the shared samples format (notebook 00)
- ``toy``: 2-D toy distributions with exact densities where they exist (notebook 00)
- ``plotting``: image grids, curves, 2-D plots (notebook 00)
- ``training``: one training loop with a progress bar (notebook 00)
- ``utils``: seeding, devices, atomic checkpoints, the shipped checkpoints (notebook 00)
- ``cli``: the command line, ``python -m tutorial_lib`` (notebook 00)
- ``gan``: the GAN family: networks, losses, training step, sampling (notebook 01)
- ``vae``: the VAE family: encoder, decoder, ELBO and IWAE bounds (notebook 02)
- ``diffusion``: schedules, q(x_t | x_0), the posterior, the simple loss, the DDPM and DDIM
  samplers, the variational bound, classifier-free guidance (notebooks 03 to 05)
- ``nets``: the denoising networks, a time embedding and a small UNet (notebook 04)
- ``metrics``: the course's classifier, Fréchet distance, precision and recall (notebooks 05, 06)
- ``widgets``: step-by-step explorers behind ipywidgets sliders (notebooks 01 to 05)
- ``checks``: feedback on the exercises (notebooks 01 to 05)
"""

__version__ = "0.1.0"
