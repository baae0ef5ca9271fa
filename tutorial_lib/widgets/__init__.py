"""Step-by-step explorers: sliders over precomputed frames, in JupyterLab and as animations.

Each explorer takes what a notebook has already computed (a noising run, a sampling
trajectory, training snapshots, a decoded latent grid, guided samples) and shows it behind
ipywidgets controls. Moving a control only redraws: every frame exists before the first
draw, so a slider move costs one matplotlib render (tens of milliseconds on a laptop CPU;
``last_redraw_seconds`` holds the latest).

Without a live kernel (nbconvert HTML, a notebook viewer) the same output shows an animated
GIF of the same content instead of the controls: ``display(explorer)`` sends both, and a
front end without the widget picks the GIF. ``explorer.gif()`` returns its bytes.

``explorer.shown`` holds the arrays now on screen, by panel, so that tests (and curious
students) can read exactly what the picture shows.

    ForwardProcess  x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps over t, per schedule (notebook 03)
    ReverseChain    x_t and the predicted x_0 along one stored DDPM or DDIM run (notebook 04)
    GANTraining     samples over D(x) (2-D) or a fixed-noise grid (images) per snapshot (notebook 01)
    LatentExplorer  the image decoded from a 2-D code z picked with two sliders (notebook 02)
    Guidance        samples of one class from the same noise, per guidance scale w (notebook 05)
    Inpainting      the holed input, x_t and the predicted x_0 along one inpainting run (notebook 08)
    SDEdit          guides, guides noised to t_0 and their edits, per t_0 (notebook 08)
    Trajectories    flow-matching and DDIM trajectories from the same noise, per step (notebook 07)

One module per lesson (``diffusion``, ``gan``, ``latent``, ``flow``, ``editing``) over one
shared ``core``.
"""

from .core import DPI, Explorer
from .diffusion import ForwardProcess, Guidance, ReverseChain
from .editing import Inpainting, SDEdit
from .flow import Trajectories
from .gan import GANTraining
from .latent import LatentExplorer

__all__ = [
    "DPI",
    "Explorer",
    "ForwardProcess",
    "GANTraining",
    "Guidance",
    "Inpainting",
    "LatentExplorer",
    "ReverseChain",
    "SDEdit",
    "Trajectories",
]
