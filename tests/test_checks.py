"""tutorial_lib.checks: right answers pass, and each typical wrong answer is named in words."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

from tutorial_lib import checks, diffusion, flow, gan, metrics, paths, vae
from tutorial_lib.checks import ddpm as ddpm_checks
from tutorial_lib.checks import gan as gan_checks
from tutorial_lib.checks import setup as setup_checks
from tutorial_lib.checks import vae as vae_checks


def unanswered(*args):
    raise NotImplementedError()


REFERENCES = {
    checks.d_loss: gan.d_loss,
    checks.g_loss_non_saturating: gan.g_loss_non_saturating,
    checks.reparameterize: vae.reparameterize,
    checks.kl_standard_normal: lambda mu, log_var: (
        0.5 * (log_var.exp() + mu**2 - 1 - log_var).sum(-1)
    ),
    checks.q_sample: lambda x0, t, eps, s: (
        s.alpha_bar[t].sqrt().float().view(-1, 1, 1, 1) * x0
        + (1 - s.alpha_bar[t]).sqrt().float().view(-1, 1, 1, 1) * eps
    ),
    checks.q_posterior_mean: lambda x0, xt, t, s: diffusion.q_posterior(x0, xt, t, s)[0],
    checks.predict_x0: diffusion.predict_x0,
    checks.ddpm_step: diffusion.ddpm_step,
    checks.combine_guidance: lambda c, u, w: c + w * (c - u),
    checks.drop_labels: lambda y, p, null, u: torch.where(u < p, torch.full_like(y, null), y),
    # the exercises that write a whole step of an algorithm, and those of notebooks 00 and 06
    checks.to_levels: vae.to_levels,
    checks.mixture_log_prob: lambda x, means, std: (
        torch.distributions.Independent(torch.distributions.Normal(means, std), 1)
        .log_prob(x[:, None])
        .logsumexp(1)
        - math.log(means.shape[0])
    ),
    checks.ml_step: setup_checks._reference_ml_step,
    checks.gan_step: gan_checks._reference_gan_step,
    checks.negative_elbo: vae_checks._reference_negative_elbo,
    checks.cosine_betas: lambda T, s: diffusion.Schedule(T, "cosine").beta,
    checks.algorithm1_step: ddpm_checks._reference_algorithm1_step,
    checks.algorithm2_sample: lambda m, shape, s, g: diffusion.ddpm_sample(m, shape, s, g)[0],
    checks.guided_sample: lambda model, y, w, shape, s, steps, g, null: diffusion.ddim_sample(
        lambda x, t: diffusion.guided_eps(model, x, t, y, w, null), shape, s, steps, generator=g
    )[0],
    checks.class_entropy: metrics.class_entropy,
    checks.frechet_distance: metrics.frechet_distance,
    checks.precision_recall: metrics.precision_recall,
    # notebook 07
    checks.flow_matching_loss: lambda m, x_0, t, eps: (
        (
            (
                m(
                    (1 - t.view(-1, *[1] * (x_0.ndim - 1))) * x_0
                    + t.view(-1, *[1] * (x_0.ndim - 1)) * eps,
                    t,
                )
                - (eps - x_0)
            )
            ** 2  # fmt: skip
        ).mean()
    ),
    checks.sample_ode: lambda v, x, steps, solver: flow.solve(v, x, flow.times(steps), solver)[0],
    checks.velocity_from_eps: lambda x_t, eps, t: (
        (eps - x_t) / (1 - t.view(-1, *[1] * (x_t.ndim - 1)))
    ),
}


@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_a_right_answer_passes_and_a_missing_one_is_explained(check, capsys):
    full = inspect.signature(check).parameters["points"].default
    assert check(REFERENCES[check]) == full  # every point
    assert "correct" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="not answered yet.*library's"):
        check(unanswered)


def ab(s, t, like):
    return s.alpha_bar[t].float().view(-1, *([1] * (like.ndim - 1)))


def _forward_solver(v, x, steps, solver):
    """A student's Euler loop whose step h = 1 / steps is positive: t runs from 1 down, x forwards."""
    for i in range(steps):
        x = x + v(x, torch.full((x.shape[0],), 1 - i / steps)) / steps
    return x


def _heun_same_time(v, x, steps, solver):
    grid = flow.times(steps)
    for i in range(steps):
        t = torch.full((x.shape[0],), grid[i].item())
        h = (grid[i + 1] - grid[i]).item()
        if solver == "euler":
            x = x + h * v(x, t)
        else:
            x = x + h / 2 * (v(x, t) + v(x + h * v(x, t), t))
    return x


WRONG = [  # (check, a student's wrong answer, words the feedback must contain)
    (
        checks.kl_standard_normal,
        lambda mu, lv: 0.5 * (lv.exp() + mu**2 - 1 + lv).sum(-1),
        "sign of log sigma^2",
    ),
    (checks.kl_standard_normal, lambda mu, lv: (lv.exp() + mu**2 - 1 - lv).sum(-1), "factor 1/2"),
    (checks.kl_standard_normal, lambda mu, lv: 0.5 * (lv.exp() + mu**2 - 1 - lv), "shape"),
    (
        checks.q_sample,
        lambda x0, t, e, s: ab(s, t, x0) * x0 + (1 - ab(s, t, x0)) * e,
        "standard deviations",
    ),
    (
        checks.q_sample,
        lambda x0, t, e, s: ab(s, t, x0).sqrt() * e + (1 - ab(s, t, x0)).sqrt() * x0,
        "swapped",
    ),
    (
        checks.d_loss,
        lambda r, f: -(F.softplus(-r).mean() + F.softplus(f).mean()),
        "sign is flipped",
    ),
    (
        checks.d_loss,
        lambda r, f: -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean(),
        "softplus",
    ),
    (
        checks.g_loss_non_saturating,
        lambda f: torch.log(1 - torch.sigmoid(f)).mean(),
        "saturating minimax",
    ),
    (checks.reparameterize, lambda mu, std, eps: mu + std**2 * eps, "variance"),
    (
        checks.reparameterize,
        lambda mu, std, eps: mu + std * torch.randn_like(std),
        "ignores the eps",
    ),
    (
        checks.predict_x0,
        lambda xt, t, e, s: (xt - (1 - ab(s, t, xt)).sqrt() * e) * ab(s, t, xt).sqrt(),
        "divide",
    ),
    (
        checks.ddpm_step,
        lambda xt, t, e, s, z: diffusion.ddpm_step(xt, t, e, s, 0 * z),
        "noise term",
    ),
    (checks.combine_guidance, lambda c, u, w: w * c + (1 - w) * u, "other convention"),
    (
        checks.drop_labels,
        lambda y, p, null, u: torch.where(u > p, torch.full_like(y, null), y),
        "1 - p_uncond",
    ),
    (
        checks.q_posterior_mean,
        lambda x0, xt, t, s: diffusion.q_posterior(xt, x0, t, s)[0],
        "swapped",
    ),
]


def feedback(check, answer, capsys, **options) -> tuple[float, str]:
    """The points a check gives and what it says: printed for partial credit, raised for none."""
    try:
        points = check(answer, **options)
    except checks.ExerciseError as e:
        return 0, str(e)
    return points, capsys.readouterr().out


def _step(loss_of, zero=True):
    def step(model, optimizer, x):
        loss = loss_of(model.distribution(), x)
        if zero:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _summed_algorithm1_step(model, optimizer, x_0, schedule, generator):
    t = torch.randint(0, schedule.T, (x_0.shape[0],), generator=generator)
    eps = torch.randn(x_0.shape, generator=generator)
    loss = ((eps - model(diffusion.q_sample(x_0, t, eps, schedule), t)) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _forward_loop(model, shape, schedule, generator):
    x = torch.randn(shape, generator=generator)
    for step in range(schedule.T):
        t = torch.full((shape[0],), step)
        noise = torch.randn(shape, generator=generator) if step > 0 else torch.zeros(shape)
        x = diffusion.ddpm_step(x, t, model(x, t), schedule, noise)
    return x


def _unguided(model, y, w, shape, schedule, steps, generator, null):
    return diffusion.ddim_sample(
        lambda x, t: model(x, t, y), shape, schedule, steps, generator=generator
    )[0]


def _elementwise_fd(a, b):
    sa, sb = torch.cov(a.T.double()), torch.cov(b.T.double())
    mean = ((a.double().mean(0) - b.double().mean(0)) ** 2).sum()
    return float(mean + torch.trace(sa + sb - 2 * (sa * sb).clamp(min=0).sqrt()))


def _self_neighbour_pr(real, fake, k):
    def inside(points, centres):
        r = torch.cdist(centres, centres).kthvalue(k, dim=1).values
        return (torch.cdist(points, centres) <= r[None]).any(1).float().mean().item()

    return inside(fake, real), inside(real, fake)


WRONG += [  # the exercises added with partial credit: one typical mistake each
    (checks.to_levels, lambda x, L: ((x.clamp(-1, 1) + 1) * (L - 1) / 2).long(), "NEAREST"),
    (
        checks.mixture_log_prob,
        lambda x, m, s: (
            torch.distributions.Independent(torch.distributions.Normal(m, s), 1)
            .log_prob(x[:, None])
            .logsumexp(1)
        ),
        "weights 1/K",
    ),
    (checks.ml_step, _step(lambda d, x: -d.log_prob(x).mean(), zero=False), "zero_grad()"),
    (checks.ml_step, _step(lambda d, x: d.log_prob(x).mean()), "sign is flipped"),
    (checks.gan_step, gan_checks._gan_round(g_loss=gan.g_loss_minimax), "non-saturating"),
    (
        checks.negative_elbo,
        lambda m, x, e: (
            -m.decode(m.encode(x).mean + m.encode(x).stddev * e).log_prob(
                vae.to_levels(x, m.cfg.levels).flatten(1)
            )
        ),
        "KL term is missing",
    ),
    (
        checks.cosine_betas,
        lambda T, s: 1 - diffusion.Schedule(T, "cosine").alpha_bar,
        "1 - alpha_bar_t",
    ),
    (checks.algorithm1_step, _summed_algorithm1_step, "average instead"),
    (checks.algorithm2_sample, _forward_loop, "runs forwards"),
    (checks.guided_sample, _unguided, "no guidance"),
    (
        checks.class_entropy,
        lambda p, k: metrics.class_entropy(p, k) / math.log(2),
        "nats",
    ),
    (checks.frechet_distance, _elementwise_fd, "matrix square root"),
    (checks.precision_recall, _self_neighbour_pr, "kthvalue(k + 1)"),
    (
        checks.flow_matching_loss,
        lambda m, x_0, t, eps: ((m(flow.interpolate(x_0, eps, t), t) - (x_0 - eps)) ** 2).mean(),
        "the wrong way",
    ),
    (
        checks.flow_matching_loss,
        lambda m, x_0, t, eps: ((m(flow.interpolate(x_0, eps, t), t) - eps) ** 2).mean(),
        "regresses on the velocity",
    ),
    (checks.sample_ode, _forward_solver, "forwards in time"),
    (checks.sample_ode, _heun_same_time, "at the old time t"),
    (
        checks.velocity_from_eps,
        lambda x_t, eps, t: paths.x0_from_eps(x_t, eps, paths.flow_point(t, x_t)) - eps,
        "sign is flipped",
    ),
]


@pytest.mark.parametrize("check, answer, words", WRONG, ids=lambda v: getattr(v, "__name__", ""))
def test_a_typical_mistake_is_named_and_costs_points(check, answer, words, capsys):
    points, said = feedback(check, answer, capsys)
    assert points < inspect.signature(check).parameters["points"].default and words in said, said


def test_partial_credit_for_an_answer_wrong_only_on_an_edge_case(capsys):
    """log(sigmoid(l)) is right for ordinary logits and infinite for confident ones."""

    def naive(r, f):
        return -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()

    points, said = feedback(checks.d_loss, naive, capsys)
    assert 0 < points < 2 and "softplus" in said and "confident" in said


def test_hidden_cases_count_and_are_reported_alone(capsys):
    """The instructor's hidden tests pass their own cases: a function right on the visible cases
    and wrong on the hidden one loses that share, and the report names only the hidden case."""

    def only_small(c, u, w):
        return diffusion.combine_guidance(c, u, w) if w <= 2 else c

    c, u = torch.randn(4, 3), torch.randn(4, 3)
    assert checks.combine_guidance(only_small) == 2
    capsys.readouterr()
    points = checks.combine_guidance(only_small, hidden=[("w = 7, hidden", (c, u, 7.0))])
    said = capsys.readouterr().out
    assert points == 1.5 and "w = 7, hidden" in said and "w = 0.5" not in said
    assert (
        checks.combine_guidance(
            diffusion.combine_guidance, points=5, hidden=[("w = 7", (c, u, 7.0))]
        )
        == 5
    )


def test_an_unknown_mistake_still_gets_a_specific_message():
    with pytest.raises(
        checks.ExerciseError, match="differs from the reference.*largest difference"
    ):
        checks.combine_guidance(lambda c, u, w: c + 0.01)
    with pytest.raises(
        checks.ExerciseError, match="largest difference 0.001"
    ):  # a near miss fails too
        checks.combine_guidance(lambda c, u, w: (1 + w) * c - w * u + 1e-3)
    with pytest.raises(checks.ExerciseError, match="raised ZeroDivisionError"):
        checks.combine_guidance(lambda c, u, w: 1 / 0)
    with pytest.raises(checks.ExerciseError, match="returned a float"):
        checks.g_loss_non_saturating(lambda f: 0.5)


def test_a_case_that_raises_loses_all_its_parts(capsys):
    """cosine_betas checks two parts per case; an answer that raises on one of its two cases
    loses both parts of that case, half the points, and the feedback quotes the error."""

    def only_long_chains(T, s):
        if T < 100:
            raise ValueError("too short")
        return diffusion.Schedule(T, "cosine").beta

    assert checks.cosine_betas(only_long_chains) == 1.5
    assert "raised ValueError: too short" in capsys.readouterr().out
