"""What nbval compares in the stored notebooks, and what it is told to skip.

nbval re-executes every notebook and compares its outputs with the stored ones, after the
substitutions in notebooks/nbval_sanitize.cfg. A result that comes out of training or a long
sampling chain differs in its last digits from one CPU to the next, so such a cell is marked
``# NBVAL_IGNORE_OUTPUT`` and checks the claim the text makes with an ``assert`` instead.
These tests keep that bargain: no output is skipped without a claim that guards it.
"""

import json
import re
from pathlib import Path

import pytest
from nbval.plugin import find_comment_markers, get_sanitize_patterns

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SANITIZE = NOTEBOOKS[0].parent / "nbval_sanitize.cfg"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in cells(path) if c["cell_type"] == "code"]


def sanitize(text: str) -> str:
    """Apply the sanitizer file as nbval does: its own parser, every pair in order."""
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize(
    "before, after",
    [
        (
            "DDPM      1000        8.25 s (wall)      2.62",
            "DDPM      1000       18.25 s (wall)      2.62",
        ),
        ("GAN: 0.02 s (wall) for 1000 images", "GAN: 120.50 s (wall) for 1000 images"),
        ("DDIM       5        0.03 s (wall)", "DDIM       5        1.3 s (wall)"),
    ],
)
def test_a_timing_of_another_width_sanitizes_to_the_same_line(before, after):
    assert sanitize(before) == sanitize(after)
    after_timing = before.split("(wall)")[1]
    assert sanitize(before).endswith(after_timing)  # what follows a timing stays checked


def test_the_sanitizer_leaves_results_alone():
    line = "  -ELBO                          95.89 nats  2.162 bits/dim   (rate 6.2 nats)"
    assert sanitize(line) == line


def skipped_by_nbval(source: str) -> bool:
    """What nbval itself makes of the cell's comments (it wants the marker alone on its line)."""
    return ("check", False) in find_comment_markers(source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_nbval_marker_is_one_nbval_recognises(path):
    """A marker with anything else on its line (``# NBVAL_IGNORE_OUTPUT: why``) is silently
    ignored by nbval; the reason goes on the next line."""
    for source in code_cells(path):
        for line in source.splitlines():
            if line.lstrip().startswith("#") and "NBVAL_" in line:
                assert list(find_comment_markers(line)), f"{path.name}: nbval ignores {line!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_skipped_output_is_guarded_by_a_claim(path):
    """A cell whose output nbval skips either asserts what the text claims, or shows an explorer
    widget, or reports a fact about the machine (versions, files present) rather than a result."""
    for source in code_cells(path):
        if not skipped_by_nbval(source):
            continue
        visible = HIDDEN.sub("", source)
        exempt = "interactive widget" in visible or "about this machine" in visible
        claims = re.search(r"^\s*(assert |torch\.testing\.assert_close)", visible, re.M)
        assert exempt or claims, (
            f"{path.name}: output skipped with no assert to guard it:\n{source[:300]}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_seed_comes_from_the_parameters_cell(path):
    """SEED is set once, in the parameters cell; every generator is seeded from it, so a rerun on
    the same machine repeats every output. Hidden tests draw from their own fixed generator."""
    parameters = [c for c in cells(path) if "parameters" in c["metadata"].get("tags", [])]
    assert len(parameters) == 1 and re.search(
        r"^SEED = \d+", "".join(parameters[0]["source"]), re.M
    )
    sources = [HIDDEN.sub("", s) for s in code_cells(path)]
    assert any("seed_everything(SEED)" in s for s in sources)
    for source in sources:
        literal = re.findall(r"(?:manual_seed|seed_everything)\((\d+)\)", source)
        assert not literal, (
            f"{path.name}: a seed written as a number ({literal}) instead of from SEED"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_stores_widget_state(path):
    """A stored widget state would make static viewers draw the explorers' last frame instead of
    their animations (make course runs with store_widget_state=False for the same reason), and
    it only grows the file: the kernel that made it is gone."""
    assert "widgets" not in json.loads(path.read_text())["metadata"], path.name
