"""The step-by-step explorers, headless: set each control and check what is shown.

The oracles: the forward process in closed form (Ho et al. Eq. 4 with the linear schedule
written out in numpy), the stored trajectories and snapshots themselves, and decoders and
samples whose values encode where they came from.
"""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tutorial_lib import ddpm, diffusion, widgets
from tutorial_lib.data import load_dataset
from tutorial_lib.toy import make_toy

T = 1000


@pytest.fixture(scope="module")
def forward():
    digit = load_dataset("digits", split="train").images[0]
    points = make_toy("ring").sample(1000, torch.Generator().manual_seed(0))
    return widgets.ForwardProcess(digit, points, T=T), digit, points


def test_forward_process_starts_at_the_data_and_ends_at_noise(forward):
    explorer, digit, points = forward
    explorer.controls["t"].value = 0
    torch.testing.assert_close(explorer.shown["image"], digit)
    torch.testing.assert_close(explorer.shown["points"], points)
    explorer.controls["t"].value = T
    for x in (explorer.shown["image"].flatten(), explorer.shown["points"].flatten()):
        assert abs(x.mean().item()) < 0.35 and 0.75 < x.std().item() < 1.25  # N(0, I), not the data
    corr = np.corrcoef(explorer.shown["image"].flatten(), digit.flatten())[0, 1]
    assert abs(corr) < 0.4
    cov = torch.cov(explorer.shown["points"].T)
    torch.testing.assert_close(cov, torch.eye(2), atol=0.12, rtol=0)


def test_forward_process_matches_the_closed_form_with_one_fixed_noise(forward):
    explorer, digit, _ = forward
    beta = np.linspace(1e-4, 0.02, T)  # Ho et al.'s linear schedule
    alpha_bar = np.cumprod(1 - beta)
    explorer.controls["kind"].value = "linear"
    implied_noise = []
    for t in (1, 250, 600, T):
        explorer.controls["t"].value = t
        ab = alpha_bar[t - 1]
        assert explorer.shown["alpha_bar"] == pytest.approx(ab, rel=1e-5)
        assert explorer.shown["snr"] == pytest.approx(ab / (1 - ab), rel=1e-4)
        implied_noise.append((explorer.shown["image"] - np.sqrt(ab) * digit) / np.sqrt(1 - ab))
    for eps in implied_noise[1:]:  # the same eps at every t: the slider shows one noise growing
        torch.testing.assert_close(eps, implied_noise[0], atol=2e-3, rtol=0)


def test_forward_process_redraws_on_every_control(forward):
    explorer, _, _ = forward
    explorer.controls["kind"].value = "linear"
    explorer.controls["t"].value = 300
    linear_png, linear_image = explorer.image.value, explorer.shown["image"].clone()
    explorer.controls["kind"].value = "cosine"
    assert explorer.image.value != linear_png
    assert not torch.equal(
        explorer.shown["image"], linear_image
    )  # the cosine schedule keeps more signal at t = 300
    assert explorer.shown["alpha_bar"] > 0.5 > np.cumprod(1 - np.linspace(1e-4, 0.02, T))[299]


def toy_trajectory(sampler):
    net = lambda x, t: 0.1 * x  # noqa: E731  a stand-in for eps_theta: any function of (x_t, t) will do
    schedule = diffusion.Schedule(T)
    g = torch.Generator().manual_seed(0)
    if sampler == "ddim":
        keep = tuple(diffusion.ddim_timesteps(schedule, 20))
        _, trajectory = diffusion.ddim_sample(
            net, (4, 1, 8, 8), schedule, steps=20, generator=g, keep=keep
        )
    else:
        _, trajectory = diffusion.ddpm_sample(
            net, (4, 1, 8, 8), schedule, g, keep=tuple(range(0, T, 50))
        )
    return trajectory


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_reverse_chain_shows_each_stored_step(sampler):
    trajectory = toy_trajectory(sampler)
    explorer = widgets.ReverseChain(trajectory, n=3)
    steps = list(explorer.controls["t"].options)
    assert steps == sorted(trajectory, reverse=True)  # from noise to image, in sampling order
    assert explorer.shown["t"] == steps[0]
    pngs = set()
    for t in (steps[0], steps[len(steps) // 2], 0):
        explorer.controls["t"].value = t
        torch.testing.assert_close(explorer.shown["x_t"], trajectory[t][0][:3])
        torch.testing.assert_close(explorer.shown["x0_hat"], trajectory[t][1][:3])
        pngs.add(explorer.image.value)
    assert len(pngs) == 3


def test_reverse_chain_without_stored_steps_says_how_to_get_them():
    with pytest.raises(ValueError, match="keep="):
        widgets.ReverseChain({})


def test_gan_training_shows_each_snapshot_2d_and_images():
    g = torch.Generator().manual_seed(0)
    snaps_2d = {
        s: (torch.randn(50, 2, generator=g), torch.rand(121, 121, generator=g), (s // 100, 0.5))
        for s in (100, 200, 300)
    }
    explorer = widgets.GANTraining(snaps_2d)
    explorer.controls["step"].value = 200
    torch.testing.assert_close(explorer.shown["samples"], snaps_2d[200][0])
    torch.testing.assert_close(explorer.shown["surface"], snaps_2d[200][1])
    assert explorer.title.get_text().startswith("step 200: 2 modes")

    snaps = {s: torch.full((20, 1, 8, 8), s / 1000 - 0.5) for s in (1, 250, 500)}
    explorer = widgets.GANTraining(snaps)
    before = explorer.image.value
    explorer.controls["step"].value = 500
    assert torch.equal(explorer.shown["samples"], snaps[500]) and explorer.image.value != before


def test_latent_explorer_looks_up_the_decoded_grid_without_decoding_again():
    calls = []

    def decode(z):  # image whose pixels are z1 (left half) and z2 (right half)
        calls.append(len(z))
        return (
            torch.cat(
                [
                    z[:, :1, None, None].expand(-1, 1, 4, 2),
                    z[:, 1:, None, None].expand(-1, 1, 4, 2),
                ],
                -1,
            )
            / 3
        )

    explorer = widgets.LatentExplorer(decode, lim=3.0, n=13)
    assert calls == [13 * 13]
    explorer.controls["z1"].value = 1.5
    explorer.controls["z2"].value = -2.0
    assert explorer.shown["z"] == pytest.approx((1.5, -2.0))
    image = explorer.shown["image"]
    assert image[0, :, :2].unique().item() == pytest.approx(0.5) and image[
        0, :, 2:
    ].unique().item() == pytest.approx(-2 / 3)
    assert calls == [13 * 13]  # moving the sliders decoded nothing


def test_guidance_shows_the_chosen_class_and_scale():
    scales = [0.0, 1.0, 3.0]
    samples = torch.zeros(10, 3, 4, 1, 8, 8)
    for c in range(10):
        for i, w in enumerate(scales):
            samples[c, i] = c / 10 + w / 100  # each block encodes its class and scale
    explorer = widgets.Guidance(samples, scales)
    explorer.controls["label"].value = 7
    explorer.controls["w"].value = 3.0
    assert explorer.shown["images"].unique().item() == pytest.approx(0.73)
    with pytest.raises(ValueError, match="scales"):
        widgets.Guidance(samples, [0.0, 1.0])


def test_guidance_from_model_uses_the_same_noise_for_every_scale():
    cfg = ddpm.DDPMConfig(num_classes=10)
    model = lambda x, t, y: torch.zeros_like(x)  # noqa: E731  ignores the label, so w changes nothing
    explorer = widgets.Guidance.from_model(model, cfg, [0.0, 2.0], n=2, steps=5)
    assert explorer.samples.shape == (10, 2, 2, 1, 8, 8)
    torch.testing.assert_close(explorer.samples[:, 0], explorer.samples[:, 1])


def test_static_readers_get_an_animation_of_the_same_frames(forward):
    explorer, _, _ = forward
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert 'data-animation="forward_process"' in bundle["text/html"]
    gif = Image.open(io.BytesIO(explorer.gif()))
    assert gif.format == "GIF" and gif.n_frames == len(explorer.animation_states())
    first, last = np.asarray(gif.convert("RGB")), None
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("RGB"))
    assert (first != last).any()


def test_animation_keeps_grey_digits_grey_beside_coloured_points():
    """One palette for every frame, a grey ramp and the scatter's colours: the decoded digit (the
    right half of the frame, with its title) has R = G = B in every frame, while the map of the
    codes (the left half) keeps its ten colours."""
    decode = lambda z: torch.tanh(z.sum(1)).view(-1, 1, 1, 1).expand(-1, 1, 6, 6)  # noqa: E731
    codes = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    explorer = widgets.LatentExplorer(decode, n=11, codes=codes, labels=torch.arange(500) % 10)
    gif = Image.open(io.BytesIO(explorer.gif()))
    for k in range(gif.n_frames):
        gif.seek(k)
        rgb = np.asarray(gif.convert("RGB")).astype(int)
        right, left = rgb[:, rgb.shape[1] // 2 + 5 :], rgb[:, : rgb.shape[1] // 2]
        assert (right.max(2) == right.min(2)).all(), f"frame {k}: a tinted pixel beside the digit"
        colours = {tuple(c) for c in left.reshape(-1, 3) if c.max() - c.min() > 30}
        assert len(colours) >= 8, f"frame {k}: the scatter's colours were lost ({len(colours)})"


@pytest.fixture(scope="module")
def run_course():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "run_course", str(Path(widgets.__file__).parents[2] / "scripts" / "run_course.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stored_progress_bars_are_drawn_finished_and_nbval_still_matches(run_course):
    """A bar stored by a headless run shows its first, empty drawing; run_course redraws it as
    finished, unless the notebook failed. nbval's sanitizer maps both to the same text."""
    import re

    import nbformat
    from nbval.plugin import get_sanitize_patterns

    empty = "fit a Gaussian:   0%|          | 0/600 [00:00<?, ?it/s]"
    bar = {"text/plain": empty, "application/vnd.jupyter.widget-view+json": {"model_id": "x"}}
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "fit()", outputs=[nbformat.v4.new_output("display_data", data=bar)]
        )
    )
    assert run_course.finish_progress_bars(nb) == 1
    done = nb.cells[0].outputs[0]["data"]["text/plain"]
    assert done == "fit a Gaussian: 100%|██████████| 600/600 [done]"
    cfg = Path(widgets.__file__).parents[2] / "notebooks" / "nbval_sanitize.cfg"
    patterns = get_sanitize_patterns(cfg.read_text())

    def sanitize(text):
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    assert sanitize(done) == sanitize(empty) == "fit a Gaussian:PROGRESS [ELAPSED<LEFT]"
    failed = nbformat.v4.new_notebook()
    failed.cells.append(
        nbformat.v4.new_code_cell(
            "fit()",
            outputs=[
                nbformat.v4.new_output("display_data", data=dict(bar)),
                nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[]),
            ],
        )
    )
    assert run_course.finish_progress_bars(failed) == 0
    assert failed.cells[0].outputs[0]["data"]["text/plain"] == empty


def test_stored_figures_are_compacted_without_changing_what_they_show(run_course):
    """A figure of grey noise beside a colour map and coloured lines, re-encoded with a palette:
    smaller, the same size in pixels; the grey panel within 4 levels of 255, 99% of the pixels
    within 32 (the anti-aliased edges of coloured lines move most), and on average under 1."""
    import base64

    import matplotlib.pyplot as plt
    import nbformat

    fig, axes = plt.subplots(1, 3, figsize=(9, 3), dpi=100)
    axes[0].imshow(np.random.default_rng(0).random((28, 28)), cmap="gray")
    axes[1].imshow(np.outer(np.linspace(0, 1, 64), np.linspace(0, 1, 64)), cmap="viridis")
    for k in range(5):
        axes[2].plot(np.sin(np.linspace(0, 6, 100) + k), label=f"line {k}")
    axes[2].legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    nb = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output("display_data", data={"image/png": png})
    nb.cells.append(nbformat.v4.new_code_cell("plot()", outputs=[output]))
    before, after = run_course.compact_figures(nb)
    assert after < 0.8 * before

    def pixels(b64):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")).astype(int)

    old, new = pixels(png), pixels(nb.cells[0].outputs[0]["data"]["image/png"])
    assert new.shape == old.shape
    error = np.abs(new - old).max(2)  # per pixel, the worst channel
    assert error[:, :300].max() <= 4, "the grey panel stays within 4 levels of 255"
    assert error.mean() < 1.0 and np.percentile(error, 99) <= 32, "few pixels move, none far"


def test_make_course_saves_each_animation_and_the_html_shows_it(forward, tmp_path, run_course):
    import nbformat
    from nbconvert import HTMLExporter

    explorer = forward[0]
    nb = nbformat.v4.new_notebook()
    output = nbformat.v4.new_output("display_data", data=explorer._repr_mimebundle_())
    for _ in range(2):  # two explorers of one kind get two files
        nb.cells.append(
            nbformat.v4.new_code_cell("ForwardProcess(digit, points)", outputs=[output])
        )
    assert run_course.save_figures(nb, tmp_path / "figures", tmp_path / "animations") == 2
    for name in ("forward_process.gif", "forward_process_2.gif"):
        gif = Image.open(tmp_path / "animations" / name)
        assert gif.n_frames == len(explorer.animation_states())
    html, _ = HTMLExporter().from_notebook_node(
        nb
    )  # no widget state saved: the animation stands in
    assert 'data-animation="forward_process"' in html


def test_inpainting_explorer_shows_each_stored_step():
    s = diffusion.Schedule(20)
    known = torch.rand(3, 1, 8, 8) * 2 - 1
    mask = torch.zeros(3, 1, 8, 8)
    mask[:, :, :4] = 1
    model = lambda x, t: torch.zeros_like(x)  # noqa: E731
    _, trajectory = diffusion.inpaint(model, known, mask, s, 2, keep=(19, 10, 0))
    explorer = widgets.Inpainting(known, mask, trajectory, n=2)
    assert explorer.controls["t"].options == (19, 10, 0)
    explorer.controls["t"].value = 10
    assert explorer.shown["t"] == 10 and torch.equal(explorer.shown["x_t"], trajectory[10][0][:2])
    assert torch.equal(explorer.holed[:, :, 4:], torch.zeros(2, 1, 4, 8))  # the hole is grey
    assert len(explorer.animation_states()) == 3
    with pytest.raises(ValueError, match="keep="):
        widgets.Inpainting(known, mask, {})


def test_sdedit_explorer_edits_from_each_t0_with_the_same_noise():
    cfg = ddpm.DDPMConfig(T=50)
    model = lambda x, t: torch.zeros_like(x)  # noqa: E731  the chain then only rescales x
    guides = torch.rand(4, 1, 8, 8) * 2 - 1
    explorer = widgets.SDEdit.from_model(model, cfg, guides, [0.2, 1.0], steps=10)
    assert sorted(explorer.edited) == [0.2, 1.0] and explorer.edited[0.2].shape == guides.shape
    low = diffusion.Schedule(50).respaced(10)[0].alpha_bar[1]  # t_0 = 0.2 of 10 steps: step 1
    expected = low.sqrt() * guides + (1 - low).sqrt() * torch.randn(
        guides.shape, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(explorer.noised[0.2], expected.float())  # the guide noised to t_0
    explorer.controls["t_0"].value = 1.0
    assert torch.equal(explorer.shown["edited"], explorer.edited[1.0])
    assert (explorer.edited[0.2] - guides).abs().mean() < (
        explorer.edited[1.0] - guides
    ).abs().mean()


def test_trajectories_explorer_starts_both_samplers_from_the_same_noise():
    from tutorial_lib import flow

    flow_cfg, ddpm_cfg = flow.FlowConfig(width=8), ddpm.DDPMConfig(width=8, T=50)
    torch.manual_seed(0)
    flow_model, ddpm_model = flow.build(flow_cfg).eval(), ddpm.build(ddpm_cfg).eval()
    explorer = widgets.Trajectories.from_models(
        flow_model, flow_cfg, ddpm_model, ddpm_cfg, n=3, steps=5, seed=7
    )
    noise = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    flow_end = flow.sample(flow_model, flow_cfg, 3, torch.Generator().manual_seed(7), steps=5)
    ddim_end = ddpm.sample(
        ddpm_model, ddpm_cfg, 3, torch.Generator().manual_seed(7), sampler="ddim", steps=5
    )
    first = explorer.shown
    assert first["step"] == 0
    for name in ("flow matching, Euler", "DDPM, DDIM"):
        torch.testing.assert_close(first[name]["x_t"], noise)  # one starting point for both
    assert first["flow matching, Euler"]["t"] == 1.0
    explorer.controls["step"].value = 5
    last = explorer.shown
    assert last["flow matching, Euler"]["t"] == last["DDPM, DDIM"]["t"] == 0.0
    torch.testing.assert_close(last["flow matching, Euler"]["x_t"].clamp(-1, 1), flow_end)
    torch.testing.assert_close(last["DDPM, DDIM"]["x_t"].clamp(-1, 1), ddim_end)
    # Euler's predicted end at step k, x_t - t v, is where one more step of size t would land
    ts, states, predicted = explorer.paths["flow matching, Euler"]
    with torch.no_grad():
        v = flow_model(states[2], torch.full((3,), ts[2].item()))
    torch.testing.assert_close(predicted[2], states[2] - ts[2] * v, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="same number of steps"):
        widgets.Trajectories({"a": (ts, states, predicted), "b": (ts[:2], states[:2], states[:2])})
