import pytest
import torch

from tutorial_lib.training import random_batches, train_loop
from tutorial_lib.utils import CourseError


def test_random_batches_visit_every_example_once_per_epoch():
    x = torch.arange(10)
    batches = random_batches(x, x * 2, batch_size=5, generator=torch.Generator().manual_seed(0))
    seen = []
    for _ in range(2):
        a, b = next(batches)
        assert torch.equal(b, 2 * a)
        seen += a.tolist()
    assert sorted(seen) == list(range(10))


def test_random_batches_reshuffle_every_epoch():
    x = torch.arange(100)
    batches = random_batches(x, batch_size=100, generator=torch.Generator().manual_seed(0))
    first, second = next(batches)[0], next(batches)[0]
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(100))
    assert not torch.equal(first, second) and not torch.equal(first, x)


def test_random_batches_reject_bad_input():
    with pytest.raises(CourseError, match="different lengths"):
        next(random_batches(torch.zeros(3), torch.zeros(4), batch_size=2))
    with pytest.raises(CourseError, match="batch_size must be positive"):
        next(random_batches(torch.zeros(3), batch_size=0))


def test_train_loop_fits_least_squares():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(256, 3, generator=g)
    y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.3 + 0.01 * torch.randn(256, generator=g)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)

    def step(batch):
        xb, yb = batch
        loss = ((model(xb).squeeze(1) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss.item()}

    calls = []
    history = train_loop(
        step,
        random_batches(X, y, batch_size=64, generator=g),
        400,
        progress=False,
        callback=calls.append,
    )
    assert list(history) == ["mse"] and len(history["mse"]) == 400 and calls == list(range(400))
    # oracle: the least-squares solution
    A = torch.cat([X, torch.ones(256, 1)], 1)
    solution = torch.linalg.lstsq(A, y[:, None]).solution.squeeze(1)
    torch.testing.assert_close(
        torch.cat([model.weight[0], model.bias]).detach(), solution, atol=5e-3, rtol=0
    )


def test_train_loop_stops_on_nan():
    with pytest.raises(FloatingPointError, match="loss became nan at step 2"):
        train_loop(lambda b: [1.0, 2.0, float("nan")][b], iter(range(5)), 5, progress=False)
