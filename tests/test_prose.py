"""The prose cannot drift from the outputs: every result it quotes is one a cell printed.

A notebook's markdown quotes what its cells computed ("the FD falls from 126.4 to 92.0", "the
accuracy reaches 99%"). When a model is retrained or a cell is changed, its printed output moves
and a sentence written by hand does not. This test reads the executed notebooks and fails on such
a sentence.

The rule, for every decimal number (``0.58``, ``2.005``) and every percentage (``97%``) in a
markdown cell (link targets aside), in the text and in its equations alike:

1. it is a rounding of a number printed by a code cell of the same section (the cells between two
   headings), before or after the sentence: the cell that computed it is right there; or
2. it is a setting, written in the source of one of the notebook's code cells (``p_uncond =
   0.1``, ``beta=0.25``), or a reference (``Exercise 2.1``, ``Sec. 4.2``); or
3. it is a constant of the literature, listed in ``CONSTANTS`` below with where it comes from.

A number quoted from another section must be printed again where it is quoted, or written by the
code itself (``display(Markdown(f"..."))``), whose output is then compared by nbval.
Integers are not checked: in this prose they are sizes and budgets (28×28, 1000 steps), which are
settings; a computed count is quoted as a percentage or with its decimals.
"""

import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Numbers the prose states that no cell computes, with where they come from.
CONSTANTS = {
    "00": {"3.0": "the licence, CC BY-SA 3.0"},
    "03": {
        "0.02": "beta_T of the linear schedule, Ho et al. (2020)",
        "0.008": "the offset s of the cosine schedule, Nichol & Dhariwal (2021)",
    },
    "04": {"0.02": "beta_T of the linear schedule, Ho et al. (2020)"},
    "06": {
        "0.02": "beta_T of the linear schedule, Ho et al. (2020)",
        "0.008": "the offset s of the cosine schedule, Nichol & Dhariwal (2021)",
    },
}

NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+(?=\s?%))(?!\.?\d)")
ANY_NUMBER = re.compile(r"(?<![\w.])-?(\d+(?:\.\d+)?)(?![\d])")
HEADING = re.compile(r"^#{1,3} ", re.M)
REFERENCE = re.compile(  # "exercise 2.1", "exercises 4.2 and 4.3", "Sec. 4.2": not results
    r"(?:[Ee]xercises?|Sec\.|Section|§)\s*\d+\.\d+(?:\s*(?:,|and|or)\s*\d+\.\d+)*"
)
LINK = re.compile(r"\]\([^)]*\)")


def printed(cell: dict) -> str:
    """Everything a code cell showed as text: streams, results and Markdown it displayed."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out.get("data", {})
            for kind in ("text/markdown", "text/plain"):
                if kind in data:
                    parts.append("".join(data[kind]))
                    break
    return "\n".join(parts)


def quoted(markdown: str) -> list[tuple[str, bool]]:
    """The decimals and percentages in a markdown cell, as (digits, is_percentage)."""
    text = REFERENCE.sub("", LINK.sub("]", markdown))
    return [(m.group(1), "." not in m.group(1)) for m in NUMBER.finditer(text)]


def is_rounding_of(quote: str, candidates: set[str], percentage: bool) -> bool:
    """Whether ``quote``, as written, is one of ``candidates`` rounded to the digits it shows.
    A percentage may also be quoted from a fraction: 97% from 0.971."""
    places = len(quote.split(".")[1]) if "." in quote else 0
    value = Decimal(quote)
    for text in candidates:
        try:
            x = abs(Decimal(text))
        except InvalidOperation:
            continue
        scaled = (x, x * 100) if percentage and x <= 1 else (x,)
        if any(round(s, places) == value for s in scaled):
            return True
    return False


def sections(path: Path) -> list[list[dict]]:
    """The notebook's cells, cut at every heading; a markdown cell with a heading inside it is cut
    there too, so that the text above the heading stays with the section it ends."""
    out: list[list[dict]] = [[]]
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            out[-1].append(cell)
            continue
        text = "".join(cell["source"])
        starts = [m.start() for m in HEADING.finditer(text)]
        for begin, end in zip([0, *starts], [*starts, len(text)], strict=True):
            if begin in starts:
                out.append([])
            if text[begin:end].strip():
                out[-1].append({"cell_type": "markdown", "source": [text[begin:end]]})
    return out


def stale_numbers(path: Path) -> list[str]:
    """Every quoted number of the notebook that rule 1, 2 or 3 does not account for."""
    all_cells = [c for section in sections(path) for c in section]
    settings = {
        m.group(1)
        for c in all_cells
        if c["cell_type"] == "code"
        for m in ANY_NUMBER.finditer("".join(c["source"]))
    }
    constants = CONSTANTS.get(path.name[:2], {})
    stale = []
    for section in sections(path):
        shown = {
            m.group(1)
            for c in section
            if c["cell_type"] == "code"
            for m in ANY_NUMBER.finditer(printed(c))
        }
        for cell in section:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for quote, percentage in quoted(text):
                as_setting = quote in settings or (
                    percentage and str(Decimal(quote) / 100) in settings
                )
                if is_rounding_of(quote, shown, percentage) or as_setting or quote in constants:
                    continue
                where = text.find(quote)
                stale.append(f"{quote!r} in «…{text[max(0, where - 80) : where + 30]}…»")
    return stale


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_the_prose_quotes_was_printed_in_its_section(path):
    stale = stale_numbers(path)
    assert not stale, (
        f"{path.name}: numbers in the prose that no cell of their section printed (rerun the "
        "notebook and update the text, or print the number where it is quoted):\n  "
        + "\n  ".join(stale)
    )


def notebook_with(tmp_path: Path, cells: list[dict]) -> Path:
    path = tmp_path / "99_planted.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    return path


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "source": [text], "metadata": {}}


def code(source: str, output: str) -> dict:
    stream = {"output_type": "stream", "name": "stdout", "text": [output]}
    return {"cell_type": "code", "source": [source], "outputs": [stream], "metadata": {}}


def test_a_stale_number_is_caught(tmp_path):
    """The number printed moved from 2.7 to 2.5 nats; the sentence still says 2.7."""
    fresh = [
        markdown("## Bound"),
        code("print(gap)", "gap 2.68 nats\n"),
        markdown("about 2.7 nats"),
    ]
    assert stale_numbers(notebook_with(tmp_path, fresh)) == []
    stale = [
        markdown("## Bound"),
        code("print(gap)", "gap 2.53 nats\n"),
        markdown("about 2.7 nats"),
    ]
    assert len(stale_numbers(notebook_with(tmp_path, stale))) == 1


def test_a_number_from_another_section_does_not_count(tmp_path):
    cells = [
        markdown("## One"),
        code("print(acc)", "accuracy 0.971\n"),
        markdown("## Two"),
        markdown("The accuracy is 97%."),
    ]
    assert len(stale_numbers(notebook_with(tmp_path, cells))) == 1
    cells.insert(3, code("print(acc)", "accuracy 0.971\n"))
    assert stale_numbers(notebook_with(tmp_path, cells)) == []


@pytest.mark.parametrize(
    "quote, candidates, percentage, expected",
    [
        ("92.0", {"92.03"}, False, True),
        ("92.0", {"92.07"}, False, False),
        ("0.58", {"0.5804"}, False, True),
        ("97", {"0.971"}, True, True),
        ("97", {"0.962"}, True, False),
        ("2.005", {"-2.0049"}, False, True),
    ],
)
def test_rounding(quote, candidates, percentage, expected):
    assert is_rounding_of(quote, candidates, percentage) is expected
