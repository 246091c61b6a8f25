"""Fit the accurate mode's match head (matching/engine/match_head.py) on a developer set's cached pairs.

Reads what `manage.py evaluate --mode accurate` cached (features and raw LightGlue matches of every
image-level pair it ran), verifies each pair as the accurate mode does, and fits:
  - one head per individual with queries, on the other individuals' frames with that individual's
    pairs removed (leave-one-individual-out), and
  - one head on every frame, for the product.
It writes them to one head file and prints, per fold, how many frames taught the head and how many
frames of the held-out cat it then ranks first, next to the plain (unweighted) score on the same
cached pairs. `evaluate --mode accurate --match-head FILE` then reports every figure (sightings,
location prior, AUC) with each query scored by its fold head, from the same cache, without LightGlue.

    .venv/bin/python scripts/train_match_head.py ../shared/data/reid-dev/snowleopard --suggested-boxes --out var/match-head.json
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slreid_site.settings")


def main(argv=None) -> int:
    import django

    django.setup()
    import numpy as np
    from django.conf import settings

    from matching.engine.accurate import verified_matches
    from matching.engine.evaluation import pessimistic_rank, read_dataset
    from matching.engine.evaluation_runner import cached_accurate_pairs, shares_static_pixels
    from matching.engine.match_head import FrameCase, HeadFile, PairData, fit, leave_one_individual_out

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset_dir")
    parser.add_argument("--suggested-boxes", action="store_true", help="as the evaluate run whose pairs are cached")
    parser.add_argument("--cache-dir", default=str(ROOT / "var" / "eval-cache"))
    parser.add_argument("--l2", type=float, default=0.01, help="penalty on the head's weights (default 0.01)")
    parser.add_argument("--out", required=True, help="head file to write (JSON)")
    args = parser.parse_args(argv)

    ds = read_dataset(args.dataset_dir)
    store, cached = cached_accurate_pairs(ds, Path(args.cache_dir), extractor=settings.MATCHING_ACCURATE_EXTRACTOR,
                                          max_keypoints=settings.MATCHING_MAX_KEYPOINTS,
                                          suggested_boxes=args.suggested_boxes)
    pairs = defaultdict(list)
    for (q, g), m in cached.items():
        pairs[q].append((g, m))
    if not pairs:
        print(f"no cached accurate pairs in {store.folder}: run evaluate --mode accurate first", file=sys.stderr)
        return 2

    by_individual: dict = defaultdict(list)
    for q, refs in sorted(pairs.items()):
        iq, fq = ds.items[q], store.get(q)
        data = []
        for g, m in sorted(refs, key=lambda r: r[0]):
            ig, fg = ds.items[g], store.get(g)
            inl = verified_matches(fq, fg, m, same_camera=shares_static_pixels(ds, store, q, g))
            i0, i1 = np.asarray(m.idx0)[inl], np.asarray(m.idx1)[inl]
            data.append(PairData(ig.individual, np.asarray(fq.descriptors, np.float32)[i0] * np.asarray(fg.descriptors, np.float32)[i1],
                                 np.asarray(m.confidence, np.float32)[inl]))
        by_individual[iq.individual].append(FrameCase(iq.individual, tuple(data)))

    def rank1(cases, head):
        right = 0
        for c in cases:
            best = {}
            for p in c.pairs:
                w = np.ones(len(p.confidence), np.float32) if head is None else head.weights_of_products(p.products)
                best[p.individual] = max(best.get(p.individual, 0.0), float((w * p.confidence).sum()))
            right += c.truth in best and pessimistic_rank(best, c.truth) == 1
        return right

    folds = leave_one_individual_out(by_individual, l2=args.l2)
    every = [c for cs in by_individual.values() for c in cs]
    head_all = fit(every, l2=args.l2)
    print("| held-out cat | query frames | frames the head learnt from | rank-1 plain score | rank-1 fold head |")
    print("|---|---|---|---|---|")
    tot = [0, 0, 0]
    for ind in sorted(by_individual, key=str):
        cases = by_individual[ind]
        plain, learnt = rank1(cases, None), rank1(cases, folds[ind])
        tot = [tot[0] + len(cases), tot[1] + plain, tot[2] + learnt]
        print(f"| {ind} | {len(cases)} | {len(every) - len(cases)} | {plain} | {learnt} |")
    print(f"| all (out of fold) | {tot[0]} | | {tot[1]} ({tot[1] / tot[0]:.1%}) | {tot[2]} ({tot[2] / tot[0]:.1%}) |")
    print(f"in sample, head fitted on all: {rank1(every, head_all)} of {len(every)}")
    print("rank-1 here is among the shortlisted individuals of each cached frame, the plain score as the accurate mode's")
    HeadFile(store.engine.extractor.name, store.engine.extractor.version, head_all, {str(k): h for k, h in folds.items()}, {
        "dataset": ds.name, "frames": len(every), "l2": args.l2, "suggested_boxes": args.suggested_boxes,
        "command": "scripts/train_match_head.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }).save(Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
