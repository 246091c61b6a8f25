"""Shortlist stage: which catalog images deserve LightGlue for a query.

Pure module (numpy + faiss, no Django). Every catalog image contributes its strongest local
descriptors to one faiss index; a query's descriptors vote for catalog images with the LNBNN
rule (HotSpotter, which was first used on these snow-leopard photos): a neighbour's vote is
how much closer it is than the (k+1)-th neighbour. Descriptors that match many catalog images
alike (rock, snow, sky, the overlay text) therefore vote little. Same-station pairs also drop
votes whose keypoints sit at the same pixel in both frames: static background.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Hashable

import faiss
import numpy as np

Key = Hashable


@dataclass(frozen=True)
class Entry:
    """What the shortlist knows about a catalog image."""

    key: Key
    individual: Hashable
    body_part: str = ""
    station: Hashable | None = None
    location: Hashable | None = None
    sighting: Hashable | None = None
    image_size: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Vote:
    key: Key
    score: float
    individual: Hashable


def normalize(desc: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (cosine similarity = inner product), float32."""
    d = np.ascontiguousarray(desc, dtype=np.float32)
    norms = np.linalg.norm(d, axis=1, keepdims=True)
    return d / np.maximum(norms, 1e-12)


def strongest(n: int, scores: np.ndarray | None, limit: int) -> np.ndarray:
    """Indices of the `limit` highest-scoring keypoints (all when there are fewer)."""
    if n <= limit or scores is None or len(scores) != n:
        return np.arange(min(n, limit))
    return np.sort(np.argpartition(-np.asarray(scores), limit - 1)[:limit])


@dataclass
class ShortlistIndex:
    """Incremental descriptor index over catalog images with LNBNN voting.

    Exact (flat) search while small; above `ivf_from` descriptors sync() trains an inverted-file
    index (and again when the catalog has grown 4x since), so search cost grows slowly with the
    catalog; search() trains only the first one, never a retraining. Removal marks an image's rows
    dead; they are dropped at the next rebuild.
    """

    dim: int
    per_image: int = 384
    ivf_from: int = 300_000
    nprobe: int = 24
    seed: int = 0
    entries: dict = field(default_factory=dict)
    _desc: list = field(default_factory=list, repr=False)
    _kpts: list = field(default_factory=list, repr=False)
    _owner: list = field(default_factory=list, repr=False)  # row -> slot (int) per block
    _slots: list = field(default_factory=list, repr=False)  # slot -> key or None (removed)
    _slot_of: dict = field(default_factory=dict, repr=False)
    _index: object = field(default=None, repr=False)
    _row_cache: object = field(default=None, repr=False)
    _indexed_blocks: int = 0
    _indexed_rows: int = 0
    _trained_rows: int = 0
    _dead_rows: int = 0

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def num_vectors(self) -> int:
        return sum(len(d) for d in self._desc)

    def add(self, entry: Entry, descriptors: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None = None) -> None:
        """Add (or replace) one catalog image: descriptors (N, dim), keypoints (N, 2) original pixels."""
        if entry.key in self._slot_of:
            self.remove(entry.key)
        if descriptors.ndim != 2 or (len(descriptors) and descriptors.shape[1] != self.dim):
            raise ValueError(f"descriptors must be (N, {self.dim}), got {descriptors.shape}")
        keep = strongest(len(descriptors), scores, self.per_image)
        slot = len(self._slots)
        self._slots.append(entry.key)
        self._slot_of[entry.key] = slot
        self.entries[entry.key] = entry
        self._desc.append(normalize(descriptors[keep]) if len(keep) else np.zeros((0, self.dim), np.float32))
        self._kpts.append(np.asarray(keypoints, np.float32)[keep].reshape(-1, 2))
        self._owner.append(np.full(len(keep), slot, np.int64))
        self._row_cache = None

    def remove(self, key: Key) -> None:
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return
        self._slots[slot] = None
        self.entries.pop(key, None)
        self._dead_rows += len(self._owner[slot])
        if self._dead_rows > 0.25 * max(1, self.num_vectors):
            self._compact()

    def _compact(self) -> None:
        live = [i for i, k in enumerate(self._slots) if k is not None]
        desc = [self._desc[i] for i in live]
        kpts = [self._kpts[i] for i in live]
        keys = [self._slots[i] for i in live]
        self._desc, self._kpts, self._owner, self._slots, self._slot_of = [], [], [], [], {}
        for new_slot, (d, k, key) in enumerate(zip(desc, kpts, keys)):
            self._slots.append(key)
            self._slot_of[key] = new_slot
            self._desc.append(d)
            self._kpts.append(k)
            self._owner.append(np.full(len(d), new_slot, np.int64))
        self._index = None
        self._row_cache = None
        self._dead_rows = 0
        self._indexed_blocks = 0
        self._indexed_rows = 0
        self._trained_rows = 0

    def _all(self):
        if not self._desc:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
        return np.concatenate(self._desc), np.concatenate(self._kpts), np.concatenate(self._owner)

    @property
    def training_due(self) -> bool:
        """Whether the next sync() trains an inverted file: the catalog is large and none is trained
        yet, or it has grown 4x since the last training."""
        total = self.num_vectors
        return total >= self.ivf_from and (self._trained_rows == 0 or total > 4 * self._trained_rows)

    def sync(self, *, retrain: bool = True) -> None:
        """Bring the faiss index up to date with the images added since the last search, and (re)train
        the inverted file when it is due (training_due).

        search() syncs with retrain=False: it trains the first inverted file itself (an exact search
        of 1,024 query descriptors over 1.2 million took 8.9 s here, longer than the training), but
        it keeps an existing inverted file when only a retraining is due, adding the new rows to its
        lists, so that no query waits for it. Call sync() after adding many images, and after
        answering (matching.services.catalog_index_train)."""
        total = self.num_vectors
        due = self.training_due and (retrain or self._trained_rows == 0)
        if self._index is None or due:
            desc, _, _ = self._all()
            if due:
                nlist = int(min(4096, max(64, 4 * np.sqrt(total))))
                quantizer = faiss.IndexFlatIP(self.dim)
                index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
                rng = np.random.default_rng(self.seed)
                sample = desc[rng.choice(total, size=min(total, 64 * nlist), replace=False)]
                index.train(sample)
                index.nprobe = self.nprobe
                self._index_quantizer = quantizer  # the IVF index does not own it
                self._trained_rows = total
            else:
                index = faiss.IndexFlatIP(self.dim)
            if total:
                index.add(desc)
            self._index = index
        elif len(self._desc) > self._indexed_blocks:
            self._index.add(np.ascontiguousarray(np.concatenate(self._desc[self._indexed_blocks:])))
        self._indexed_blocks = len(self._desc)
        self._indexed_rows = total
        if self._row_cache is None:
            _, kpts, owner = self._all_rows()
            self._row_cache = (kpts, owner)

    def _all_rows(self):
        if not self._desc:
            return None, np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
        return None, np.concatenate(self._kpts), np.concatenate(self._owner)

    def search(
        self,
        descriptors: np.ndarray,
        keypoints: np.ndarray,
        *,
        allowed: Callable[[Entry], bool] | None = None,
        same_station: Callable[[Entry], bool] | None = None,
        k: int = 5,
        static_px: float = 6.0,
        scale: float = 1.0,
    ) -> list[Vote]:
        """Catalog images ranked by LNBNN votes of the query's descriptors (N, dim) at keypoints (N, 2).

        allowed(entry) filters catalog images (body part, location, own sighting); same_station(entry)
        says when the two frames come from one fixed camera, so votes between keypoints less than
        static_px * scale pixels apart are background and dropped.
        """
        if len(descriptors) == 0 or not self.entries:
            return []
        self.sync(retrain=False)
        all_kpts, owner = self._row_cache
        slots = None
        if allowed is not None:
            ok_slots = [self._slot_of[key] for key, e in self.entries.items() if allowed(e)]
            if not ok_slots:
                return []
            slots = np.zeros(len(self._slots), bool)
            slots[ok_slots] = True
            params = self._search_params(slots[owner]) if len(ok_slots) < len(self.entries) else None
        else:
            params = None
        q = normalize(descriptors)
        kk = k + 1
        # Over-fetch: dead rows (removed images) may take some of the k+1 places.
        fetch = kk + (8 if self._dead_rows else 0)
        sims, ids = self._index.search(q, fetch, params=params) if params is not None else self._index.search(q, fetch)
        valid = ids >= 0
        ids_c = np.where(valid, ids, 0)
        row_slot = owner[ids_c]
        alive = np.array([s is not None for s in self._slots], bool)
        valid &= alive[row_slot]
        if slots is not None:
            valid &= slots[row_slot]
        votes: dict[int, float] = defaultdict(float)
        same = {}
        if same_station is not None:
            same = {self._slot_of[key]: bool(same_station(e)) for key, e in self.entries.items()}
        qk = np.asarray(keypoints, np.float32).reshape(-1, 2)
        for i in range(len(q)):
            row_ok = np.flatnonzero(valid[i])
            if len(row_ok) < 2:
                continue
            row_ok = row_ok[:kk]
            norm_sim = sims[i, row_ok[-1]] if len(row_ok) == kk else sims[i, row_ok[-1]] - 0.05
            seen = set()
            for j in row_ok[:-1] if len(row_ok) == kk else row_ok:
                slot = int(row_slot[i, j])
                if slot in seen:
                    continue
                seen.add(slot)
                w = float(sims[i, j] - norm_sim)
                if w <= 0:
                    continue
                if same.get(slot) and np.hypot(*(qk[i] - all_kpts[ids_c[i, j]])) < static_px * scale:
                    continue
                votes[slot] += w
        ranked = sorted(votes.items(), key=lambda kv: -kv[1])
        return [Vote(self._slots[s], v, self.entries[self._slots[s]].individual) for s, v in ranked]

    def _search_params(self, row_ok: np.ndarray):
        bitmap = np.packbits(row_ok, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(row_ok), faiss.swig_ptr(bitmap))
        # faiss keeps raw pointers: the bitmap and selector must outlive the search call.
        self._selector = (sel, bitmap)
        if isinstance(self._index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe)
        return faiss.SearchParameters(sel=sel)


def shortlist(votes: list[Vote], *, images: int, per_individual: int = 2) -> list[Vote]:
    """Top catalog images, at most per_individual of each individual, so one cat with many
    near-identical frames cannot crowd the others out."""
    taken: dict = defaultdict(int)
    out = []
    for v in votes:
        if taken[v.individual] >= per_individual:
            continue
        taken[v.individual] += 1
        out.append(v)
        if len(out) >= images:
            break
    return out
