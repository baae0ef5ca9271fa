"""tutorial_lib: the companion library of "Deep generative models for images, built from scratch".

Modules, in the order the course introduces them:

- ``data``: image data sets in [-1, 1] and the shared samples format (notebook 00)
- ``toy``: 2-D toy distributions with exact densities where they exist (notebook 00)
- ``plotting``: image grids, curves, 2-D plots, animations (notebook 00)
- ``training``: one training loop with a progress bar (notebook 00)
- ``utils``: seeding, devices, atomic checkpoints (notebook 00)
"""

__version__ = "0.1.0"
