"""tutorial_lib.checks: right answers pass, and each typical wrong answer is named in words."""

import pytest
import torch
import torch.nn.functional as F

from tutorial_lib import checks, diffusion, gan, vae


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
}


@pytest.mark.parametrize("check", list(REFERENCES), ids=lambda c: c.__name__)
def test_a_right_answer_passes_and_a_missing_one_is_explained(check, capsys):
    assert check(REFERENCES[check]) == 2  # every point
    assert "correct" in capsys.readouterr().out
    with pytest.raises(checks.ExerciseError, match="not answered yet.*library's"):
        check(unanswered)


def ab(s, t, like):
    return s.alpha_bar[t].float().view(-1, *([1] * (like.ndim - 1)))


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


@pytest.mark.parametrize("check, answer, words", WRONG, ids=lambda v: getattr(v, "__name__", ""))
def test_a_typical_mistake_is_named_and_costs_points(check, answer, words, capsys):
    points, said = feedback(check, answer, capsys)
    assert points < 2 and words in said, said


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
