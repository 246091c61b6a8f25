"""Which cross-encounter pairs carry identity signal, and where the engine loses it.

Reads what `manage.py evaluate --mode accurate` cached (features and raw LightGlue matches of every
pair it ran) and prints markdown tables for docs/benchmarks.md:
  1. per kind of pair (flank side known or not, day/IR on each side, same or other station):
     how many same-cat and other-cat pairs there are, the ROC AUC of each pair score separating
     same from other cat, and the median score of each;
  2. per stage, for the eligible queries that ran: shortlist recall (the true cat among the
     individuals LightGlue saw), verification (a true-cat pair scored above zero) and the score
     (the true cat ranked first).
Day or IR is read from the image: an IR frame carries (almost) no colour.

    .venv/bin/python scripts/diagnose_pairs.py ../shared/data/reid-dev/snowleopard [--suggested-boxes]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slreid_site.settings")


def is_ir(path: Path) -> bool:
    """An IR frame: its mean colour saturation is near zero."""
    import cv2
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im.thumbnail((320, 320))
        hsv = cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2HSV)
    return float(hsv[..., 1].mean()) < 12.0


def main(argv=None) -> int:
    import django

    django.setup()
    from django.conf import settings

    from matching.engine.accurate import pair_score
    from matching.engine.evaluation import pessimistic_rank, plan_queries, read_dataset, roc_auc
    from matching.engine.evaluation_runner import cached_accurate_pairs, shares_static_pixels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir")
    parser.add_argument("--suggested-boxes", action="store_true")
    parser.add_argument("--cache-dir", default=str(ROOT / "var" / "eval-cache"))
    args = parser.parse_args(argv)

    ds = read_dataset(args.dataset_dir)
    store, pairs = cached_accurate_pairs(ds, Path(args.cache_dir), extractor=settings.MATCHING_ACCURATE_EXTRACTOR,
                                         max_keypoints=settings.MATCHING_MAX_KEYPOINTS,
                                         suggested_boxes=args.suggested_boxes)
    if not pairs:
        print(f"no cached pairs in {store.folder}: run evaluate --mode accurate first", file=sys.stderr)
        return 2
    ir = {it.index: is_ir(it.path) for it in ds.items}
    rows = []
    for (q, g), m in pairs.items():
        iq, ig = ds.items[q], ds.items[g]
        fq, fg = store.get(q), store.get(g)
        same_station = bool(iq.station) and iq.station == ig.station
        soft, kept = pair_score(fq, fg, m, same_camera=shares_static_pixels(ds, store, q, g))
        conf = [float(c) for c in m.confidence]
        rows.append({
            "query": q, "ref": g, "same": iq.individual == ig.individual,
            "side": "both sides known" if iq.body_part and ig.body_part else "a side unknown",
            "light": {(False, False): "day-day", (True, True): "IR-IR"}.get((ir[q], ir[g]), "day-IR"),
            "station": "same station" if same_station else "other station",
            "soft": soft, "sum_conf": float(sum(conf)), "matches": float(len(conf)), "mean_conf": statistics.fmean(conf) if conf else 0.0,
            "verified": float(len(kept)),
        })

    def table(title, key):
        print(f"\n{title}\n")
        print("| pairs | same cat | other cat | AUC soft score (verified) | AUC summed confidence (all matches) "
              "| AUC match count | AUC mean confidence | median soft score same / other |")
        print("|---|---|---|---|---|---|---|---|")
        groups = defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        groups["all"] = rows
        for name, rs in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
            same = [r for r in rs if r["same"]]
            other = [r for r in rs if not r["same"]]

            def auc(field):
                a = roc_auc([r[field] for r in same], [r[field] for r in other])
                return "n/a" if a is None else f"{a:.2f}"

            med = lambda xs: f"{statistics.median(xs):.1f}" if xs else "n/a"  # noqa: E731
            print(f"| {name} | {len(same)} | {len(other)} | {auc('soft')} | {auc('sum_conf')} | {auc('matches')} | {auc('mean_conf')} | "
                  f"{med([r['soft'] for r in same])} / {med([r['soft'] for r in other])} |")

    table("By flank side", "side")
    table("By light (query-reference)", "light")
    table("By station", "station")

    # Where the engine loses the true cat, over the eligible queries whose pairs are cached.
    by_query = defaultdict(list)
    for r in rows:
        by_query[r["query"]].append(r)
    queries = [q for q in plan_queries(ds) if q.eligible and q.index in by_query]
    seen = verified = first = 0
    for q in queries:
        rs = by_query[q.index]
        true = [r for r in rs if r["same"]]
        seen += bool(true)
        verified += any(r["soft"] > 0 for r in true)
        best = {}
        for r in rs:
            ind = ds.items[r["ref"]].individual
            best[ind] = max(best.get(ind, 0.0), r["soft"])
        first += pessimistic_rank(best, q.individual) == 1
    n = len(queries)
    print(f"\nStages over {n} eligible queries that ran (image level):\n")
    print("| stage | share of queries |\n|---|---|")
    print(f"| shortlist: the true cat's images reached LightGlue | {seen / n:.1%} |")
    print(f"| verification: a true-cat pair scored above zero | {verified / n:.1%} |")
    print(f"| score: the true cat ranked first | {first / n:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
