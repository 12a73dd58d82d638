"""A tiny lexicon-based sentiment scorer (standard library only).

Each sentiment word found counts its weight; a negator (``not``, ``never``, ...) up to three words before a
sentiment word flips it.
The score is the mean weight of the sentiment words found, so it stays within [-1, 1]; a text with none
scores 0.
"""

from __future__ import annotations

import re

POSITIVE = {
    "amazing": 1.0,
    "awesome": 1.0,
    "best": 1.0,
    "excellent": 1.0,
    "fantastic": 1.0,
    "love": 1.0,
    "loved": 1.0,
    "wonderful": 1.0,
    "great": 0.8,
    "happy": 0.8,
    "delightful": 0.8,
    "like": 0.5,
    "liked": 0.5,
    "good": 0.6,
    "nice": 0.6,
    "fast": 0.4,
    "helpful": 0.6,
    "reliable": 0.6,
    "recommend": 0.7,
    "works": 0.3,
}
NEGATIVE = {
    "awful": -1.0,
    "horrible": -1.0,
    "terrible": -1.0,
    "worst": -1.0,
    "hate": -1.0,
    "hated": -1.0,
    "useless": -0.9,
    "broken": -0.8,
    "bad": -0.7,
    "poor": -0.7,
    "sad": -0.6,
    "angry": -0.7,
    "disappointed": -0.8,
    "disappointing": -0.8,
    "slow": -0.4,
    "buggy": -0.6,
    "crash": -0.7,
    "crashes": -0.7,
    "fails": -0.6,
    "refund": -0.4,
}
LEXICON = {**POSITIVE, **NEGATIVE}
NEGATORS = {"not", "no", "never", "isn't", "wasn't", "don't", "doesn't", "didn't", "can't", "won't", "hardly"}
NEGATION_WINDOW = 3
THRESHOLD = 0.2
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def score(text: str) -> float:
    """The text's sentiment in [-1, 1], rounded to 4 places."""
    total = 0.0
    hits = 0
    negation_left = 0
    for word in _WORD.findall(text.lower()):
        weight = LEXICON.get(word)
        if weight is not None:
            total += -weight if negation_left else weight
            hits += 1
            negation_left = 0
        elif word in NEGATORS:
            negation_left = NEGATION_WINDOW
        elif negation_left:
            negation_left -= 1
    if hits == 0:
        return 0.0
    return round(max(-1.0, min(1.0, total / hits)), 4)


def label(value: float) -> str:
    if value >= THRESHOLD:
        return "positive"
    if value <= -THRESHOLD:
        return "negative"
    return "neutral"


def analyse(text: str) -> dict[str, float | str]:
    value = score(text)
    return {"score": value, "label": label(value)}
