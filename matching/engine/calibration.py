"""Confidence levels: score thresholds fitted on labelled dev data, stored in versioned files.

Pure module (no Django). A calibration maps an individual's score (scoring.py) to Excellent,
Good, Fair or Uncertain. Thresholds are fitted so that each level's answers were right at least
as often as its stated precision on the data they were fitted on, and the file records that
data (data sets, counts, extractor, date), so a reviewer can see what "Good" was measured on.
Files live in matching/engine/calibration/<version>.json; the newest for an extractor is the default.
Thresholds only mean something for the score they were fitted on, so a file records the pair
score's version (scoring.PAIR_VERSION, from the evaluate reports) and the product loads only a
file fitted on the score it computes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
LEVELS = ("excellent", "good", "fair", "uncertain")
# Precision each level promises (share of top-1 answers in the level that are the right individual).
TARGETS = {"excellent": 0.99, "good": 0.95, "fair": 0.80}
# Threshold of a level that no score band earned on the fitting data: the level is never given.
NEVER = 1e9


@dataclass
class Calibration:
    version: str
    extractor: str
    thresholds: dict  # level -> lowest score of the level (excellent >= good >= fair)
    likely_new_below: float  # top score under this: "likely a new individual"
    targets: dict = field(default_factory=lambda: dict(TARGETS))
    fitted_on: dict = field(default_factory=dict)
    # level -> {count, precision}: out-of-fold answers (cross-validated files) or the fitting data (older files)
    measured: dict = field(default_factory=dict)
    mode: str = "fast"  # the identification mode whose score this calibrates (files before modes: fast)

    def level(self, score: float) -> str:
        """Confidence level of a score; monotone: a higher score never gets a lower level."""
        for name in ("excellent", "good", "fair"):
            if score >= self.thresholds[name]:
                return name
        return "uncertain"

    @property
    def earned_levels(self) -> list[str]:
        """The levels above Uncertain that some score band earned on the fitting data."""
        out, above = [], NEVER
        for name in ("excellent", "good", "fair"):
            # An empty band [threshold, the level above's threshold) gives the level to no score.
            if self.thresholds[name] < above:
                out.append(name)
            above = min(above, self.thresholds[name])
        return out

    def is_likely_new(self, top_score: float) -> bool:
        return top_score < self.likely_new_below

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def fit_thresholds(samples: list[tuple[float, bool]], targets: dict | None = None, *, min_count: int = 5) -> dict:
    """Lowest thresholds whose level bands meet the target precisions, fitted from the top down.

    samples: (score, correct) of top-1 answers, including answers to queries whose individual is
    not in the gallery (always wrong): those are what a level must keep out. A level's band is
    [its threshold, the next level's threshold); its precision is counted within the band, and a
    band needs min_count answers, so a precision is never claimed on a handful of cases. Where no
    band qualifies, the threshold sits above every sample score (the level is never given).
    """
    targets = dict(targets or TARGETS)
    scores = sorted({s for s, _ in samples}, reverse=True)
    upper = math.inf
    out = {}
    for name in ("excellent", "good", "fair"):
        best = None
        for t in scores:  # descending: the last qualifying t is the lowest
            if t >= upper:
                continue
            band = [c for s, c in samples if t <= s < upper]
            if len(band) >= min_count and sum(band) / len(band) >= targets[name]:
                # Also require every lower cut within the band to have held up: precision among
                # the band's answers at or above any score must meet the target too (monotone).
                best = t
        if best is None:
            out[name] = upper if upper != math.inf else NEVER
        else:
            out[name] = float(best)
            upper = best
    # Keep the order even when a level is empty.
    out["good"] = min(out["good"], out["excellent"])
    out["fair"] = min(out["fair"], out["good"])
    return out


def fit_likely_new(known: list[float], new: list[float], *, ceiling: float) -> float:
    """Threshold under which a top score is called "likely new": best balanced accuracy, at most `ceiling`."""
    cands = sorted(set(known) | set(new) | {0.0})
    best_t, best_acc = 0.0, -1.0
    for t in cands:
        if t > ceiling:
            break
        tpr = sum(1 for s in new if s < t) / len(new) if new else 0.0
        tnr = sum(1 for s in known if s >= t) / len(known) if known else 0.0
        acc = (tpr + tnr) / 2
        if acc > best_acc:
            best_t, best_acc = t, acc
    return float(best_t)


def _report_samples(reports: list[dict], key: str) -> list[dict]:
    """Per-answer rows of the reports: (score, correct, group) for the level fit, known/new for "likely new"."""
    rows = []
    for r_i, rep in enumerate(reports):
        for s in rep.get(key) or []:
            group = (r_i, s["individual"])
            if s["eligible"]:
                rows.append({"score": float(s["top_score"]), "correct": s["top"] == s["individual"],
                             "group": group, "kind": "known"})
            if s.get("best_wrong") is not None:
                # The answer had this query's individual not been in the catalog: always wrong.
                rows.append({"score": float(s["best_wrong"]), "correct": False, "group": group, "kind": "new"})
    return rows


def cross_validated_levels(rows: list[dict], *, min_count: int) -> dict:
    """Leave-one-individual-out: each answer gets the level that thresholds fitted on the OTHER
    individuals' answers give it; returns level -> {count, correct} over all answers."""
    counts = {name: {"count": 0, "correct": 0} for name in LEVELS}
    for group in sorted({r["group"] for r in rows}, key=str):
        train = [(r["score"], r["correct"]) for r in rows if r["group"] != group]
        held = [r for r in rows if r["group"] == group]
        probe = Calibration(version="", extractor="", thresholds=fit_thresholds(train, min_count=min_count),
                            likely_new_below=0.0)
        for r in held:
            lv = probe.level(r["score"])
            counts[lv]["count"] += 1
            counts[lv]["correct"] += int(r["correct"])
    return counts


def fit(reports: list[dict], *, version: str, extractor: str, min_count: int = 5, mode: str | None = None) -> Calibration:
    """Fit a calibration from `evaluate --json` reports (their image and sighting samples), cross-validated.

    Thresholds are fitted on all answers, but a level is kept only where its answers, each levelled
    by thresholds fitted without its own individual (cross_validated_levels), reached the level's
    precision with at least min_count answers: a threshold is never judged on the answers it was
    fitted on. `measured` records those out-of-fold counts and precisions."""
    pair_versions = {str(rep.get("pair_version", "1")) for rep in reports}
    if len(pair_versions) > 1:
        raise ValueError(f"reports were scored with different pair scores {sorted(pair_versions)}; fit on one")
    modes = {rep.get("mode") or "fast" for rep in reports}
    if len(modes) > 1:
        raise ValueError(f"reports come from different modes {sorted(modes)}; fit on one")
    mode = mode or modes.pop()
    rows = _report_samples(reports, "samples") + _report_samples(reports, "encounter_samples")
    samples = [(r["score"], r["correct"]) for r in rows]
    sets = [{
        "dataset": rep.get("dataset"), "dataset_dir": rep.get("dataset_dir"),
        "ignore_boxes": rep.get("ignore_boxes"), "suggested_boxes": rep.get("suggested_boxes"),
        "extractor_version": rep.get("extractor_version"), "queries_run": rep.get("queries_run"),
        "eligible_queries": sum(1 for s in rep.get("samples", []) if s["eligible"]),
        "eligible_sightings": sum(1 for s in rep.get("encounter_samples") or [] if s["eligible"]),
        "max_queries": rep.get("max_queries"),
    } for rep in reports]
    thresholds = fit_thresholds(samples, min_count=min_count)
    oof = cross_validated_levels(rows, min_count=min_count)
    above = NEVER
    for name in ("excellent", "good", "fair"):
        band = oof[name]
        if not (band["count"] >= min_count and band["correct"] / band["count"] >= TARGETS[name]):
            # Not earned out of fold: an empty band, so the level is never given.
            thresholds[name] = above
        above = thresholds[name]
    known = [r["score"] for r in rows if r["kind"] == "known"]
    new = [r["score"] for r in rows if r["kind"] == "new"]
    cal = Calibration(
        version=version, extractor=extractor, thresholds=thresholds, mode=mode,
        likely_new_below=fit_likely_new(known, new, ceiling=thresholds["fair"]),
        fitted_on={"date": date.today().isoformat(), "sets": sets, "samples": len(samples),
                   "pair_version": pair_versions.pop() if pair_versions else "1",
                   "rule": "top-1 answers of eligible queries and sightings plus the best wrong answer of each "
                           "(protocol step 8 'new' case); band precision >= target with >= %d answers, judged "
                           "leave-one-individual-out" % min_count},
    )
    cal.measured = {name: {"count": v["count"], "precision": (v["correct"] / v["count"]) if v["count"] else None,
                           "cross_validated": True} for name, v in oof.items()}
    return cal


def save(cal: Calibration, folder: Path = CALIBRATION_DIR) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cal.version}.json"
    path.write_text(cal.to_json() + "\n")
    return path


def load(
    version: str | None = None, *, extractor: str | None = None, pair_version: str | None = None,
    mode: str | None = None, folder: Path = CALIBRATION_DIR,
) -> Calibration | None:
    """A stored calibration by version, or the newest one for `extractor` (and, when given, fitted
    on scores of `pair_version`; files from before it was recorded count as "1"); None when there is none."""
    if version:
        path = folder / f"{version}.json"
        if not path.exists():
            raise FileNotFoundError(f"no calibration {version!r} in {folder}")
        return _read(path)
    found = []
    for path in sorted(folder.glob("*.json")):
        cal = _read(path)
        if pair_version is not None and str(cal.fitted_on.get("pair_version", "1")) != str(pair_version):
            continue
        if mode is not None and cal.mode != mode:
            continue
        if extractor is None or cal.extractor == extractor:
            found.append((cal.fitted_on.get("date", ""), path.name, cal))
    return max(found, key=lambda t: (t[0], t[1]))[2] if found else None


def _read(path: Path) -> Calibration:
    data = json.loads(path.read_text())
    return Calibration(**data)


def main(argv: list[str] | None = None) -> int:
    """python -m matching.engine.calibration --version V --extractor NAME REPORT.json... : fit and save."""
    import argparse

    parser = argparse.ArgumentParser(description="Fit confidence levels from `evaluate --json` reports.")
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--version", required=True)
    parser.add_argument("--extractor", required=True)
    parser.add_argument("--min-count", type=int, default=5)
    args = parser.parse_args(argv)
    reports = [json.loads(Path(p).read_text()) for p in args.reports]
    versions = {r.get("extractor") for r in reports}
    if versions != {args.extractor}:
        parser.error(f"reports are for extractor(s) {sorted(map(str, versions))}, not {args.extractor}")
    cal = fit(reports, version=args.version, extractor=args.extractor, min_count=args.min_count)
    path = save(cal)
    print(f"wrote {path}")
    print(json.dumps({"thresholds": cal.thresholds, "likely_new_below": cal.likely_new_below, "measured": cal.measured}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
