"""A learned weight for each verified LightGlue match of the accurate mode (issue 12's learned component).

Pure module (torch and numpy, no Django). The accurate mode scores a pair by the summed LightGlue
confidence of its verified matches; every match counts alike, whether it lies on rosettes or on a
rock. The head gives each match a weight from what the two keypoints' descriptors have in common:

    w(match) = scale x sigmoid(theta . (d0 * d1) + bias)   (d0 * d1: element-wise, so theta . 1 = cosine)
    pair score = sum of w x confidence over the verified matches

It is fitted on a developer set's cached accurate pairs (scripts/train_match_head.py) by the
likelihood of the true individual: per query frame, an individual's score is its best pair's, and
softmax(log(1 + score)) over the shortlisted individuals should put the truth first. The weights
are scaled to a mean of 1 over the training matches, so the head can only move evidence from some
matches to others: were it free to shrink every score, it would rather blur a ranking it cannot
mend (all scores 0 ties every individual) than learn which matches to trust. theta = 0 is the
plain score.
One head is fitted per held-out individual (leave-one-individual-out: the head that scores a cat's
queries never saw that cat, as query or as reference) and one on every cat, for the product.
A head file holds them all; `head_for(individual)` picks the fold head where the file has one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np

HEAD_VERSION = "h1"


@dataclass(frozen=True)
class MatchHead:
    theta: np.ndarray  # (D,)
    bias: float
    scale: float = 1.0

    def weights(self, d0: np.ndarray, d1: np.ndarray) -> np.ndarray:
        """(M,) weights in (0, 1) of matches whose keypoints have descriptors d0[i], d1[i] (M, D)."""
        return self.weights_of_products(np.asarray(d0, np.float32) * np.asarray(d1, np.float32))

    def weights_of_products(self, products: np.ndarray) -> np.ndarray:
        """(M,) weights from the element-wise descriptor products (M, D) of the matches."""
        if len(products) == 0:
            return np.zeros(0, np.float32)
        z = np.asarray(products, np.float32) @ self.theta.astype(np.float32) + self.bias
        return (self.scale / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))).astype(np.float32)

    def to_dict(self) -> dict:
        return {"theta": [round(float(t), 6) for t in self.theta], "bias": round(float(self.bias), 6),
                "scale": round(float(self.scale), 6)}

    @classmethod
    def from_dict(cls, d: dict) -> "MatchHead":
        return cls(np.asarray(d["theta"], np.float32), float(d["bias"]), float(d["scale"]))


@dataclass(frozen=True)
class PairData:
    """One cached pair's verified matches: the descriptor products (M, D) and LightGlue confidences (M,)."""
    individual: Hashable  # the reference image's individual
    products: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class FrameCase:
    """One query frame: its true individual and every shortlisted pair it was scored on."""
    truth: Hashable
    pairs: tuple[PairData, ...]


def fit(cases: Sequence[FrameCase], *, l2: float = 0.01, steps: int = 200) -> MatchHead:
    """The head maximising the mean log-likelihood of the true individual over `cases`, less
    l2 x |theta|^2 (the data are a few hundred frames: the penalty keeps theta near 0, the plain
    score). Frames whose truth was not shortlisted, or with one individual only, teach nothing and
    are skipped. Deterministic (full-batch L-BFGS from theta = 0)."""
    import torch

    usable = [c for c in cases if any(p.individual == c.truth for p in c.pairs) and len({p.individual for p in c.pairs}) > 1]
    dim = next((p.products.shape[1] for c in usable for p in c.pairs if p.products.ndim == 2 and len(p.products)), 128)
    plain = MatchHead(np.zeros(dim, np.float32), 0.0, 2.0)  # 2 x sigmoid(0) = 1 for every match
    # Flatten: every verified match with its pair; every pair with its (frame, individual) slot.
    prods, confs, pair_of, slot_of_pair = [], [], [], []
    slot_table, truth_col = [], []
    n_pairs = n_slots = 0
    for c in usable:
        local = {ind: k for k, ind in enumerate(dict.fromkeys(p.individual for p in c.pairs))}
        for p in c.pairs:
            if len(p.confidence):
                prods.append(np.asarray(p.products, np.float32))
                confs.append(np.asarray(p.confidence, np.float32))
                pair_of.append(np.full(len(p.confidence), n_pairs))
            slot_of_pair.append(n_slots + local[p.individual])
            n_pairs += 1
        slot_table.append(list(range(n_slots, n_slots + len(local))))
        truth_col.append(local[c.truth])
        n_slots += len(local)
    if not prods:
        return plain
    # Scaled by the dimension so that theta's entries are of order 1 (a descriptor product's are ~1/D).
    P = torch.from_numpy(np.concatenate(prods) * dim)
    C = torch.from_numpy(np.concatenate(confs))
    match_pair = torch.from_numpy(np.concatenate(pair_of))
    pair_slot = torch.tensor(slot_of_pair)
    width = max(len(t) for t in slot_table)
    table = torch.tensor([t + [t[0]] * (width - len(t)) for t in slot_table])
    valid = torch.tensor([[k < len(t) for k in range(width)] for t in slot_table])
    truth = torch.tensor(truth_col)
    theta = torch.zeros(dim, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        s = torch.sigmoid(P @ theta)
        w = s / s.mean()
        pair_score = torch.zeros(n_pairs).index_add(0, match_pair, w * C)
        best = torch.zeros(n_slots).scatter_reduce(0, pair_slot, pair_score, reduce="amax")
        logits = torch.log1p(best)[table].masked_fill(~valid, float("-inf"))
        nll = -torch.log_softmax(logits, 1).gather(1, truth[:, None]).mean()
        loss = nll + l2 * (theta ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        mean = float(torch.sigmoid(P @ theta).mean())
    return MatchHead(theta.detach().numpy() * dim, 0.0, 1.0 / mean)


def leave_one_individual_out(cases_by_individual: dict[Hashable, list[FrameCase]], **fit_kw) -> dict[Hashable, MatchHead]:
    """One head per individual, fitted on the other individuals' frames with that individual's
    pairs removed, so neither its queries nor its reference images taught the head."""
    heads = {}
    for held in cases_by_individual:
        train = []
        for ind, cases in cases_by_individual.items():
            if ind == held:
                continue
            for c in cases:
                train.append(FrameCase(c.truth, tuple(p for p in c.pairs if p.individual != held)))
        heads[held] = fit(train, **fit_kw)
    return heads


@dataclass(frozen=True)
class HeadFile:
    extractor: str
    extractor_version: str
    all: MatchHead
    folds: dict  # individual (str) -> MatchHead fitted without it
    about: dict

    def head_for(self, individual: Hashable | None) -> MatchHead:
        """The fold head that never saw `individual` where there is one, else the head fitted on all."""
        return self.folds.get(str(individual), self.all) if individual is not None else self.all

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({
            "version": HEAD_VERSION, "extractor": self.extractor, "extractor_version": self.extractor_version,
            "about": self.about, "all": self.all.to_dict(),
            "folds": {k: h.to_dict() for k, h in sorted(self.folds.items())},
        }, indent=1))

    @classmethod
    def load(cls, path: Path) -> "HeadFile":
        d = json.loads(Path(path).read_text())
        if d.get("version") != HEAD_VERSION:
            raise ValueError(f"{path}: match head version {d.get('version')!r}, this engine reads {HEAD_VERSION!r}")
        return cls(d["extractor"], d["extractor_version"], MatchHead.from_dict(d["all"]),
                   {k: MatchHead.from_dict(v) for k, v in d["folds"].items()}, d.get("about", {}))
