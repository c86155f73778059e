"""Feature extraction for the syscall-anomaly model.

activities/scoring/features.ts is the TypeScript twin of this file and must compute the same numbers:
the feature spec (vocabulary, bigrams, indicators, name mapping) is written into manifest.json and both
sides read it from there; the parity fixture (parity.json) checks that they agree.

Features of one trace (a list of syscall names, either ABI):
  1. every name is canonicalized (syscall-map.json): i386 and x86_64 spellings of one operation share one
     name; ignored names (vDSO calls, newer libc bookkeeping) are dropped; n = calls kept
  2. len:log       log1p(n)
  3. distinct:log  log1p(number of distinct canonical names)
  4. freq:(other)  share of calls whose name is not in the vocabulary
  5. freq:<name>   share of calls with that canonical name, for each vocabulary name
  6. bigram:<a>,<b> share of consecutive pairs (n - 1 of them) equal to (a, b), for each listed bigram
  7. has:<name>    1 if the canonical name occurs at all, for each indicator
A trace with no call left after step 1 has all features 0.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

MAP_FILE = Path(__file__).with_name("syscall-map.json")


@dataclass(frozen=True)
class Mapping:
    canonical: dict[str, str]  # name -> canonical name (only names that change or join a class)
    ignored: frozenset[str]
    indicators: tuple[str, ...]


def load_mapping(path: Path = MAP_FILE) -> Mapping:
    raw = json.loads(path.read_text())
    canonical: dict[str, str] = {}
    for cls, names in raw["classes"].items():
        for name in names:
            if name in canonical:
                raise ValueError(f"{name} is in two classes: {canonical[name]} and {cls}")
            canonical[name] = cls
    ignored = frozenset(raw["ignored"])
    clash = ignored & set(canonical)
    if clash:
        raise ValueError(f"names both ignored and mapped: {sorted(clash)}")
    return Mapping(canonical, ignored, tuple(raw["indicators"]))


def canonicalize(names: Iterable[str], mapping: Mapping) -> list[str]:
    return [mapping.canonical.get(n, n) for n in names if n not in mapping.ignored]


@dataclass(frozen=True)
class FeatureSpec:
    vocabulary: tuple[str, ...]
    bigrams: tuple[tuple[str, str], ...]
    indicators: tuple[str, ...]

    def names(self) -> list[str]:
        return (
            ["len:log", "distinct:log", "freq:(other)"]
            + [f"freq:{n}" for n in self.vocabulary]
            + [f"bigram:{a},{b}" for a, b in self.bigrams]
            + [f"has:{n}" for n in self.indicators]
        )


def build_spec(
    train_seqs: Sequence[Sequence[str]],
    indicators: Sequence[str],
    min_doc_share: float,
    n_bigrams: int,
) -> FeatureSpec:
    """Vocabulary and bigram list from the training split only: names found in at least min_doc_share of
    the traces (sorted by name), and the n_bigrams pairs found in the most traces (ties by name)."""
    docs: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for s in train_seqs:
        docs.update(set(s))
        pairs.update(set(zip(s, s[1:])))
    need = min_doc_share * len(train_seqs)
    vocabulary = tuple(sorted(n for n, c in docs.items() if c >= need))
    bigrams = tuple(b for b, _ in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:n_bigrams])
    return FeatureSpec(vocabulary, bigrams, tuple(indicators))


class Featurizer:
    def __init__(self, spec: FeatureSpec):
        self.spec = spec
        self.n_features = 3 + len(spec.vocabulary) + len(spec.bigrams) + len(spec.indicators)
        self._vocab = {n: i for i, n in enumerate(spec.vocabulary)}
        self._bigram = {b: i for i, b in enumerate(spec.bigrams)}

    def __call__(self, seq: Sequence[str]) -> list[float]:
        """seq: canonical names (see canonicalize)."""
        spec = self.spec
        f = [0.0] * self.n_features
        n = len(seq)
        if n == 0:
            return f
        counts = Counter(seq)
        f[0] = math.log1p(n)
        f[1] = math.log1p(len(counts))
        other = 0
        base = 3
        for name, c in counts.items():
            i = self._vocab.get(name)
            if i is None:
                other += c
            else:
                f[base + i] = c / n
        f[2] = other / n
        base += len(spec.vocabulary)
        if n > 1:
            for pair, c in Counter(zip(seq, seq[1:])).items():
                i = self._bigram.get(pair)
                if i is not None:
                    f[base + i] = c / (n - 1)
        base += len(spec.bigrams)
        for i, name in enumerate(spec.indicators):
            if name in counts:
                f[base + i] = 1.0
        return f
