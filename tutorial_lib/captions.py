"""Captions for digits, built from what can be measured in the image: "a thick, slanted seven".

Each training image gets its digit (its label) and two attributes measured from its pixels,
in the spirit of Morpho-MNIST (Castro et al. 2019), with image moments instead of a skeleton.
With the ink m(i, j) = (x + 1) / 2 in [0, 1] at row i, column j:

    area       A = sum m                              (pixels of ink)
    perimeter  P = sum |grad m|                       (coarea formula: the mean length of the
                                                       level sets' boundaries)
    thickness  w = P/4 - sqrt(max(P^2/16 - A, 0))     (the short side of the rectangle with that
                                                       area and perimeter: a stroke of width w
                                                       and length L has A = wL, P = 2(w + L))
    slant      s = -mu_11 / mu_02                     (horizontal shift of the ink per pixel of
                                                       height; > 0 leans right)

where mu_11 = sum m (j - j_bar)(i - i_bar) and mu_02 = sum m (i - i_bar)^2 are central moments
(rows i grow downwards, hence the minus sign). A sheared bar x = u + s (i_c - i) has exactly
slant s; a w x L rectangle has exactly thickness w.

Each attribute is cut at its median over the training images into two words: "thin" or
"thick", "upright" or "slanted". A caption is the grammar

    caption   = article [thickness] ["," if both] [slant] digit
    article   = "a" | "an"                 (whichever reads right before the next word)
    thickness = "thin" | "thick"
    slant     = "upright" | "slanted"
    digit     = "zero" | "one" | ... | "nine"

e.g. "a seven", "a thin seven", "an upright eight", "a thick, slanted two". ``tokenize`` turns a
caption into the ids of its content words (articles and commas carry no meaning here) in three
slots, [thickness, slant, digit], 0 (``PAD``) for a missing word; all-``PAD`` is the empty
caption, the "no condition" of classifier-free guidance. The text encoder that reads these ids
is ``nets.CaptionEncoder``.

Introduced in notebook 08.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .utils import CourseError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
THICKNESS_WORDS = ("thin", "thick")  # below / above the median thickness
SLANT_WORDS = ("upright", "slanted")  # below / above the median slant
PAD = 0
VOCABULARY = ("<pad>", *THICKNESS_WORDS, *SLANT_WORDS, *DIGIT_WORDS)  # id = position
ARTICLES = ("a", "an")
SLOTS = 3  # [thickness, slant, digit]
# (digit, thick?, slanted?) whose full caption never appears in training: the model sees these
# images only as "a thick five" or "a slanted five", and must compose the two words itself.
UNSEEN = ((5, 1, 1), (2, 0, 0), (7, 1, 0), (9, 0, 1))


# ---------------------------------------------------------------- measuring attributes
def _ink(images: torch.Tensor) -> torch.Tensor:
    if images.ndim != 4 or images.shape[1] != 1:
        raise CourseError(
            f"attributes are measured on grey images (N, 1, H, W), got {tuple(images.shape)}"
        )
    return ((images.double() + 1) / 2).clamp(0, 1)[:, 0]  # (N, H, W)


def thickness(images: torch.Tensor) -> torch.Tensor:
    """Stroke thickness in pixels, w = P/4 - sqrt(max(P^2/16 - A, 0)), of images (N, 1, H, W)
    in [-1, 1] (ink is +1). Returns (N,) float64."""
    m = torch.nn.functional.pad(_ink(images), (1, 1, 1, 1))  # (N, H+2, W+2), zero outside
    dx = m[:, 1:, 1:] - m[:, 1:, :-1]  # (N, H+1, W+1), on one grid
    dy = m[:, 1:, 1:] - m[:, :-1, 1:]
    area = m.sum((1, 2))
    perimeter = (dx**2 + dy**2).sqrt().sum((1, 2))
    quarter = perimeter / 4
    return quarter - (quarter**2 - area).clamp(min=0).sqrt()


def slant(images: torch.Tensor) -> torch.Tensor:
    """Slant s = -mu_11 / mu_02 of images (N, 1, H, W) in [-1, 1]: the ink's horizontal shift per
    pixel of height, positive when it leans right. Returns (N,) float64."""
    m = _ink(images)
    _, H, W = m.shape
    i = torch.arange(H, dtype=torch.float64).view(1, H, 1)
    j = torch.arange(W, dtype=torch.float64).view(1, 1, W)
    mass = m.sum((1, 2)).clamp(min=1e-9)
    i_bar = (m * i).sum((1, 2)) / mass
    j_bar = (m * j).sum((1, 2)) / mass
    di, dj = i - i_bar.view(-1, 1, 1), j - j_bar.view(-1, 1, 1)
    return -(m * di * dj).sum((1, 2)) / (m * di**2).sum((1, 2)).clamp(min=1e-9)


@dataclass
class Attributes:
    """What the captions say about N images: digit (N,) long in 0..9, thick (N,) and slanted
    (N,) long in {0, 1}, each 1 above the training median ``thresholds`` (thickness, slant)."""

    digit: torch.Tensor
    thick: torch.Tensor
    slanted: torch.Tensor

    def __len__(self) -> int:
        return len(self.digit)


def thresholds(images: torch.Tensor) -> tuple[float, float]:
    """The medians (thickness, slant) of training images (N, 1, H, W): the cuts between the words."""
    return float(thickness(images).median()), float(slant(images).median())


def attributes(images: torch.Tensor, digits: torch.Tensor, cuts: tuple[float, float]) -> Attributes:
    """The Attributes of images (N, 1, H, W) with labels digits (N,), cut at ``cuts``
    (from ``thresholds`` on the training images)."""
    if digits.shape != (images.shape[0],):
        raise CourseError(
            f"need one digit per image: {images.shape[0]} images, digits {tuple(digits.shape)}"
        )
    return Attributes(
        digits.long().cpu(),
        (thickness(images) > cuts[0]).long(),
        (slant(images) > cuts[1]).long(),
    )


# ---------------------------------------------------------------- the grammar
def caption(digit: int, thick: int | None = None, slanted: int | None = None) -> str:
    """The caption of a digit and its attributes (None: not mentioned), by the module's grammar.
    caption(7, 1, 1) = "a thick, slanted seven"; caption(8, None, 0) = "an upright eight"."""
    words = []
    if thick is not None:
        words.append(THICKNESS_WORDS[thick] + ("," if slanted is not None else ""))
    if slanted is not None:
        words.append(SLANT_WORDS[slanted])
    words.append(DIGIT_WORDS[digit])
    article = "an" if words[0][0] in "aeiou" else "a"
    return " ".join([article, *words])


def parse(text: str) -> tuple[int, int | None, int | None]:
    """(digit, thick, slanted) of a caption, the inverse of ``caption``: parse("a thin three") =
    (3, 0, None). Raises CourseError, listing the vocabulary, for anything else."""
    ids = tokenize(text)
    thick, slanted, digit = (int(v) for v in ids)
    if digit == PAD:
        raise CourseError(f"the caption {text!r} names no digit; {_vocabulary_hint()}")
    return (
        DIGIT_WORDS.index(VOCABULARY[digit]),
        None if thick == PAD else THICKNESS_WORDS.index(VOCABULARY[thick]),
        None if slanted == PAD else SLANT_WORDS.index(VOCABULARY[slanted]),
    )


def _vocabulary_hint() -> str:
    return (
        f"write e.g. 'a thick, slanted seven' with the words: thickness {' | '.join(THICKNESS_WORDS)}; "
        f"slant {' | '.join(SLANT_WORDS)}; digit {' | '.join(DIGIT_WORDS)}"
    )


def tokenize(text: str) -> torch.Tensor:
    """A caption's content words as ids (SLOTS,) long: [thickness, slant, digit], PAD where
    absent. Articles and commas are dropped; word order does not matter, but each slot takes
    one word. Unknown words, an empty caption or two words for one slot raise CourseError."""
    if not isinstance(text, str) or not text.strip():
        raise CourseError(f"empty prompt; {_vocabulary_hint()}")
    slots = [PAD] * SLOTS
    for word in text.lower().replace(",", " ").split():
        if word in ARTICLES:
            continue
        for slot, words in enumerate((THICKNESS_WORDS, SLANT_WORDS, DIGIT_WORDS)):
            if word in words:
                if slots[slot] != PAD:
                    raise CourseError(
                        f"the caption {text!r} has two words for one attribute "
                        f"({VOCABULARY[slots[slot]]!r} and {word!r})"
                    )
                slots[slot] = VOCABULARY.index(word)
                break
        else:
            raise CourseError(
                f"unknown word {word!r} in the caption {text!r}; {_vocabulary_hint()}"
            )
    return torch.tensor(slots)


def tokens_of(attrs: Attributes) -> torch.Tensor:
    """The full captions' ids (N, SLOTS) of Attributes: every word present."""
    return torch.stack(
        [
            1 + attrs.thick,  # VOCABULARY ids of "thin", "thick"
            1 + len(THICKNESS_WORDS) + attrs.slanted,
            1 + len(THICKNESS_WORDS) + len(SLANT_WORDS) + attrs.digit,
        ],
        dim=1,
    )


def training_tokens(
    attrs: Attributes,
    p_word: float = 0.3,
    generator: torch.Generator | None = None,
    unseen=UNSEEN,
) -> torch.Tensor:
    """Random captions (N, SLOTS) for a batch: each attribute word dropped with probability
    p_word, so that the model learns "a seven" and "a thick seven" as well as the full caption;
    for the ``unseen`` (digit, thick, slanted) combinations one of the two words is always dropped,
    so their full caption never occurs. (Dropping the whole caption for guidance is
    ``diffusion.drop_labels``.)"""
    ids = tokens_of(attrs)
    drop = torch.rand(len(attrs), 2, generator=generator) < p_word  # (N, [thickness, slant])
    held = torch.zeros(len(attrs), dtype=torch.bool)
    for d, th, sl in unseen:
        held |= (attrs.digit == d) & (attrs.thick == th) & (attrs.slanted == sl)
    which = torch.randint(0, 2, (len(attrs),), generator=generator)
    both_kept = held & ~drop.any(1)
    drop[both_kept, which[both_kept]] = True
    ids[:, :2] = ids[:, :2].masked_fill(drop, PAD)
    return ids
