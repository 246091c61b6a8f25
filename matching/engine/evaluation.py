"""Labelled-folder data sets, the re-identification evaluation protocol and its metrics.

Pure module (no Django): the protocol is the one in ../shared/data/reid-dev/README.md.
A method gives, per query, a score per ranked individual; everything else (which gallery
images a query may see, pessimistic ties, new-individual cases) is decided here, so every
method is measured the same way.
"""

from __future__ import annotations

import csv
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

LABEL_COLUMNS = (
    "path", "individual_id", "body_part", "encounter_id", "station", "datetime",
    "latitude", "longitude", "bbox_x", "bbox_y", "bbox_w", "bbox_h",
)
# Optional last column: "gallery" marks a catalog-only row (never a query); empty = query and gallery.
ROLES = ("", "gallery")


class DatasetError(ValueError):
    """The folder is not a labelled-folder data set (message says what is wrong)."""


@dataclass(frozen=True)
class Item:
    index: int
    path: Path
    individual: str
    body_part: str  # "" = unknown
    encounter: str
    station: str
    datetime: str
    box: tuple[int, int, int, int] | None  # x, y, w, h in pixels of the stored image
    role: str = ""  # "gallery": catalog only, never a query

    @property
    def is_query(self) -> bool:
        return self.role != "gallery"


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    items: tuple[Item, ...]

    @property
    def individuals(self) -> list[str]:
        return sorted({it.individual for it in self.items})


def read_dataset(folder: str | Path) -> Dataset:
    """Read <folder>/labels.csv; image paths are resolved but not opened."""
    root = Path(folder)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise DatasetError(f"{root} has no labels.csv; expected the labelled-folder format (see reid-dev/README.md).")
    items: list[Item] = []
    with labels.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("path", "individual_id", "encounter_id") if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{labels} lacks the column(s) {', '.join(missing)}.")
        for line, row in enumerate(reader, start=2):
            rel = (row.get("path") or "").strip()
            ind = (row.get("individual_id") or "").strip()
            if not rel or not ind:
                raise DatasetError(f"{labels}:{line}: path and individual_id are required.")
            box_fields = [(row.get(k) or "").strip() for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")]
            box = None
            if all(box_fields):
                try:
                    bx, by, bw, bh = (int(float(v)) for v in box_fields)
                except ValueError as exc:
                    raise DatasetError(f"{labels}:{line}: box values must be integers.") from exc
                if bw > 0 and bh > 0:
                    box = (bx, by, bw, bh)
            role = (row.get("role") or "").strip().lower()
            if role not in ROLES:
                raise DatasetError(f"{labels}:{line}: role must be empty or 'gallery', not {role!r}.")
            items.append(Item(
                index=len(items),
                path=root / rel,
                individual=ind,
                body_part=(row.get("body_part") or "").strip(),
                # An image without an encounter is its own encounter.
                encounter=(row.get("encounter_id") or "").strip() or f"__image{len(items)}",
                station=(row.get("station") or "").strip(),
                datetime=(row.get("datetime") or "").strip(),
                box=box,
                role=role,
            ))
    if not items:
        raise DatasetError(f"{labels} lists no images.")
    return Dataset(name=root.name, root=root, items=tuple(items))


# "" in a labels file; the catalog's BodyPart.UNKNOWN is "unknown".
UNKNOWN_PARTS = ("", "unknown")


def compatible(query_part: str, gallery_part: str) -> bool:
    """Protocol step 3: equal body parts, or either unknown."""
    return query_part == gallery_part or query_part in UNKNOWN_PARTS or gallery_part in UNKNOWN_PARTS


def gallery_for(items: tuple[Item, ...] | list[Item], query: int) -> list[int]:
    """Protocol steps 1-3: other images, other encounters, compatible body part."""
    q = items[query]
    return [
        g.index for g in items
        if g.index != query and g.encounter != q.encounter and compatible(q.body_part, g.body_part)
    ]


@dataclass(frozen=True)
class Query:
    index: int
    individual: str
    gallery: tuple[int, ...]
    eligible: bool  # its own individual still has a gallery image (protocol step 5)


def plan_queries(dataset: Dataset, *, max_queries: int | None = None, seed: int = 0) -> list[Query]:
    """All queries of the protocol in data-set order, or a reproducible random sample of
    max_queries of them in random order. Rows whose role is "gallery" are never queries."""
    queries = []
    for item in dataset.items:
        if not item.is_query:
            continue
        gallery = tuple(gallery_for(dataset.items, item.index))
        eligible = any(dataset.items[g].individual == item.individual for g in gallery)
        queries.append(Query(item.index, item.individual, gallery, eligible))
    if max_queries is not None:
        # Random order, so that a run stopped by a time budget has still measured a random sample.
        queries = random.Random(seed).sample(queries, min(max_queries, len(queries)))
    return queries


def individual_scores_from_images(items, image_scores: dict[int, float]) -> dict[str, float]:
    """Protocol step 4: an individual's score is its best gallery image's score."""
    best: dict[str, float] = {}
    for idx, score in image_scores.items():
        ind = items[idx].individual
        if ind not in best or score > best[ind]:
            best[ind] = score
    return best


def pessimistic_rank(scores: dict[str, float], truth: str) -> int:
    """1-based rank of truth; every other individual with an equal score goes first."""
    if truth not in scores:
        return len(scores) + 1
    own = scores[truth]
    return 1 + sum(1 for ind, s in scores.items() if ind != truth and s >= own)


def roc_auc(positives: Iterable[float], negatives: Iterable[float]) -> float | None:
    """P(positive score > negative score), ties counted half; None without both classes."""
    pos = sorted(positives)
    neg = sorted(negatives)
    if not pos or not neg:
        return None
    # Rank-sum (Mann-Whitney U) with average ranks for ties.
    merged = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum = 0.0
    i = 0
    while i < len(merged):
        j = i
        while j < len(merged) and merged[j][0] == merged[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2
        rank_sum += avg_rank * sum(1 for k in range(i, j) if merged[k][1] == 1)
        i = j
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


@dataclass
class QueryRecord:
    """One query's outcome: scores per ranked individual and how long matching took.

    ``scores`` order the individuals (protocol step 4). ``confidence_scores``, when given, are the
    scores the product turns into a confidence level and a "likely new" decision (the engine ranks
    by its score plus a small shortlist-vote tie-break, but thresholds the score alone); levels,
    "likely new", the new-individual AUC and the calibration samples use them, so what is fitted
    and reported is what the product applies.
    """

    query: Query
    scores: dict[str, float]
    seconds: float
    extra: dict = field(default_factory=dict)
    confidence_scores: dict[str, float] | None = None

    def confidence(self, individual: str | None) -> float:
        source = self.scores if self.confidence_scores is None else self.confidence_scores
        return source.get(individual, float("-inf")) if individual is not None else float("-inf")

    @staticmethod
    def _first(scores: dict[str, float]) -> str | None:
        # Deterministic pick among equal scores: by name (ties are rare with real scores).
        return max(sorted(scores), key=lambda k: scores[k]) if scores else None

    @property
    def top(self) -> tuple[str | None, float]:
        """The individual ranked first and its confidence score."""
        ind = self._first(self.scores)
        return ind, self.confidence(ind)

    @property
    def best_wrong(self) -> float | None:
        """Confidence score of the first-ranked wrong individual: the answer had the query's own
        individual not been in the catalog (protocol step 8, the 'new' case); None if there is none."""
        others = {i: s for i, s in self.scores.items() if i != self.query.individual}
        return self.confidence(self._first(others)) if others else None


LEVELS = ("excellent", "good", "fair", "uncertain")


def summarize(
    records: list[QueryRecord],
    *,
    level_of: Callable[[float], str] | None = None,
    likely_new_threshold: float | None = None,
) -> dict:
    """Metrics of protocol steps 5-9 over the records; shares are fractions in [0, 1]."""
    eligible = [r for r in records if r.query.eligible]
    new_queries = [r for r in records if not r.query.eligible]
    ranks = [pessimistic_rank(r.scores, r.query.individual) for r in eligible]
    n = len(eligible)

    per_ind: dict[str, list[int]] = defaultdict(list)
    for r, rank in zip(eligible, ranks):
        per_ind[r.query.individual].append(1 if rank == 1 else 0)
    rank1_per_individual = {ind: sum(v) / len(v) for ind, v in sorted(per_ind.items())}

    known_cases = []
    new_cases = []
    for r in eligible:
        known_cases.append(r.top[1])
        if r.best_wrong is not None:
            new_cases.append(r.best_wrong)
    # Higher top score = "known"; AUC of the top score separating known from new cases.
    auc = roc_auc(known_cases, new_cases)

    out = {
        "queries": n,
        "new_individual_queries": len(new_queries),
        "rank1": _share(sum(1 for k in ranks if k == 1), n),
        "rank5": _share(sum(1 for k in ranks if k <= 5), n),
        "map": (sum(1.0 / k for k in ranks) / n) if n else None,
        "rank1_macro": (sum(rank1_per_individual.values()) / len(rank1_per_individual)) if rank1_per_individual else None,
        "rank1_per_individual": rank1_per_individual,
        "queries_per_individual": {ind: len(v) for ind, v in sorted(per_ind.items())},
        "new_individual_auc": auc,
        "new_cases": len(new_cases),
        "median_query_seconds": statistics.median([r.seconds for r in records]) if records else None,
    }
    if likely_new_threshold is not None:
        t = likely_new_threshold
        out["likely_new_threshold"] = t
        out["new_cases_flagged"] = _share(sum(1 for s in new_cases if s < t), len(new_cases))
        out["known_cases_flagged"] = _share(sum(1 for s in known_cases if s < t), len(known_cases))
        tops = [r.top[1] for r in new_queries]
        out["new_individual_queries_flagged"] = _share(sum(1 for s in tops if s < t), len(tops))
        out["eligible_queries_flagged"] = out["known_cases_flagged"]
    if level_of is not None:
        levels = {name: {"count": 0, "correct": 0} for name in LEVELS}
        for r in eligible:
            ind, score = r.top
            lv = level_of(score)
            levels[lv]["count"] += 1
            levels[lv]["correct"] += 1 if ind == r.query.individual and pessimistic_rank(r.scores, ind) == 1 else 0
        out["levels"] = {
            name: {"count": v["count"], "precision": _share(v["correct"], v["count"])} for name, v in levels.items()
        }
        out["coverage"] = coverage(levels, n)
    return out


def coverage(levels: dict[str, dict], n: int) -> dict[str, dict]:
    """Per level: the share of eligible queries answered at that level or better, and the
    precision of those answers (levels as counted by summarize: count and correct)."""
    out = {}
    count = correct = 0
    for name in LEVELS:
        count += levels[name]["count"]
        correct += levels[name]["correct"]
        out[name] = {"share": _share(count, n), "precision": _share(correct, count), "count": count}
    return out


def _fuse_scores(per_frame: list[dict[str, float]], fuse: Callable[[list[float]], float]) -> dict[str, float]:
    individuals = {ind for scores in per_frame for ind in scores}
    return {ind: fuse([scores[ind] for scores in per_frame if ind in scores]) for ind in individuals}


def encounter_records(
    dataset: Dataset, records: list[QueryRecord], fuse: Callable[[list[float]], float],
) -> list[QueryRecord]:
    """Protocol step 10: each encounter's query frames together as one query.

    Built from the image-level records (the gallery of a frame already excludes its encounter
    and keeps only compatible body parts), with the method's own fusion of the frames' scores
    per individual. An encounter counts the frames that ran (all of them unless queries were
    sampled); it is eligible when any of its frames is.
    """
    by_encounter: dict[str, list[QueryRecord]] = defaultdict(list)
    for r in records:
        by_encounter[dataset.items[r.query.index].encounter].append(r)
    out = []
    for encounter, frames in sorted(by_encounter.items()):
        first = frames[0].query
        gallery = tuple(sorted({g for r in frames for g in r.query.gallery}))
        query = Query(first.index, first.individual, gallery, any(r.query.eligible for r in frames))
        scores = _fuse_scores([r.scores for r in frames], fuse)
        conf = None
        if any(r.confidence_scores is not None for r in frames):
            conf = _fuse_scores([r.confidence_scores if r.confidence_scores is not None else r.scores for r in frames], fuse)
        out.append(QueryRecord(query, scores, sum(r.seconds for r in frames), {"frames": len(frames), "encounter": encounter},
                               confidence_scores=conf))
    return out


def station_area(station: str) -> str | None:
    """The study area of a `<region>/<station>/<camera>` label (the region); None without one."""
    return station.split("/", 1)[0] if "/" in station else None


def prior_for(dataset: Dataset, record: QueryRecord) -> dict[str, float]:
    """The location prior (prior.location_prior) of a record's ranked individuals, counted over
    the distinct encounters of every other encounter of the set (protocol steps 1-2)."""
    from matching.engine.prior import location_prior

    item = dataset.items[record.query.index]
    seen = {}
    for other in dataset.items:
        if other.encounter != item.encounter:
            seen.setdefault(other.encounter, (other.individual, other.station or None, station_area(other.station)))
    return location_prior(seen.values(), station=item.station or None, area=station_area(item.station),
                          individuals=record.scores)


def with_location_prior(dataset: Dataset, records: list[QueryRecord], weight: float) -> list[QueryRecord]:
    """Records ranked as the product ranks with the location prior on: log prior + weight * pattern
    score. Levels and "likely new" keep using the pattern score (confidence_scores)."""
    from matching.engine.prior import fuse

    out = []
    for r in records:
        if not dataset.items[r.query.index].station:
            # No place to go by (nyala): how common a cat is in the catalog is no evidence worth
            # weighing against the photos with a weight fitted where the place was known.
            out.append(r)
            continue
        prior = prior_for(dataset, r)
        pattern = r.scores
        conf = r.confidence_scores if r.confidence_scores is not None else pattern
        out.append(QueryRecord(r.query, fuse(pattern, prior, weight), r.seconds, {**r.extra, "prior": prior, "pattern": pattern},
                               confidence_scores=conf))
    return out


def summarize_encounters(records: list[QueryRecord], **kwargs) -> dict:
    """Step 10 figures under the JSON keys of the evaluate report (encounters, encounter_rank1, ...)."""
    s = summarize(records, **kwargs)
    out = {
        "encounters": s["queries"],
        "encounter_new_individual": s["new_individual_queries"],
        "encounter_rank1": s["rank1"],
        "encounter_rank5": s["rank5"],
        "encounter_map": s["map"],
        "encounter_rank1_macro": s["rank1_macro"],
        "encounter_rank1_per_individual": s["rank1_per_individual"],
        "encounter_new_individual_auc": s["new_individual_auc"],
        "encounter_median_seconds": s["median_query_seconds"],
    }
    if "levels" in s:
        out["encounter_levels"] = s["levels"]
        out["encounter_coverage"] = s["coverage"]
    return out


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def format_report(result: dict) -> str:
    """Human-readable lines for the evaluate command."""

    def pct(v):
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"

    n = result["queries"]
    lines = [
        f"data set {result.get('dataset', '?')}  method {result.get('method', '?')}  extractor {result.get('extractor', '?')}"
        f"  boxes {'ignored' if result.get('ignore_boxes') else 'used'}",
        f"eligible queries {n}, new-individual queries {result['new_individual_queries']}",
        f"rank-1 {pct(result['rank1'])}   rank-5 {pct(result['rank5'])}   mAP {pct(result['map'])}   (n={n})",
        f"macro rank-1 {pct(result['rank1_macro'])} over {len(result['rank1_per_individual'])} individuals",
    ]
    counts = result.get("queries_per_individual", {})
    for ind, v in result["rank1_per_individual"].items():
        lines.append(f"  {ind:<12} rank-1 {pct(v):>8}  (n={counts.get(ind, '?')})")
    auc = result["new_individual_auc"]
    lines.append(f"new-individual AUC {'n/a' if auc is None else f'{auc:.3f}'} (known {n} vs new {result['new_cases']} cases)")
    if "likely_new_threshold" in result:
        lines.append(
            f"at the 'likely new' threshold {result['likely_new_threshold']:.3g}: new cases flagged "
            f"{pct(result['new_cases_flagged'])}, known cases wrongly flagged {pct(result['known_cases_flagged'])}; "
            f"new-individual queries flagged {pct(result['new_individual_queries_flagged'])}"
        )
    if "levels" in result:
        for name, v in result["levels"].items():
            cov = result.get("coverage", {}).get(name)
            more = f"; at this level or better {pct(cov['share'])} of queries, precision {pct(cov['precision'])}" if cov else ""
            lines.append(f"  {name:<10} {v['count']:>5} top-1 answers, precision {pct(v['precision'])}{more}")
    if "encounters" in result:
        ne = result["encounters"]
        lines.append(
            f"sightings (encounters as one query): eligible {ne}, rank-1 {pct(result['encounter_rank1'])}"
            f"   rank-5 {pct(result['encounter_rank5'])}   macro rank-1 {pct(result['encounter_rank1_macro'])}"
        )
        for ind, v in result.get("encounter_rank1_per_individual", {}).items():
            lines.append(f"  {ind:<12} rank-1 {pct(v):>8}")
        for name, v in result.get("encounter_levels", {}).items():
            cov = result.get("encounter_coverage", {}).get(name)
            more = f"; at this level or better {pct(cov['share'])}, precision {pct(cov['precision'])}" if cov else ""
            lines.append(f"  {name:<10} {v['count']:>5} sightings, precision {pct(v['precision'])}{more}")
    mq = result["median_query_seconds"]
    ex = result.get("extract_seconds_per_image")
    lines.append(
        f"median query {'n/a' if mq is None else f'{mq:.3f} s'} (features precomputed);"
        f" extraction {'n/a' if ex is None else f'{ex:.3f} s'} per image"
    )
    return "\n".join(lines)
