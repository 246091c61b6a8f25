"""Fit the pattern-score weight of the location prior (matching/engine/prior.py) on evaluate reports.

    python scripts/fit_prior.py report.json [report.json ...] [--level images|sightings]

Reads the `prior_cases` (or `encounter_prior_cases`) of `manage.py evaluate --json` reports of one
mode, and prints, for images or sightings:
  - rank-1 by the pattern score alone, by the prior alone, and fused at the fitted weight;
  - rank-1 with the weight chosen leave-one-individual-out (each cat's cases ranked with a weight
    fitted without them), the figure to trust: the weight is never judged on the cases it was fitted on.
The weight to ship goes into prior.WEIGHTS by hand, with these figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.engine.prior import fit_weight, rank1  # noqa: E402

GRID = [0.0] + [round(0.01 * 1.25 ** k, 4) for k in range(0, 40)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--level", choices=["images", "sightings"], default="sightings")
    args = parser.parse_args(argv)
    key = "prior_cases" if args.level == "images" else "encounter_prior_cases"
    cases = []
    for path in args.reports:
        report = json.loads(Path(path).read_text())
        cases += [(c["pattern"], c["prior"], c["individual"]) for c in report.get(key, [])]
    if not cases:
        print(f"no {key} in the reports (evaluate --json of this version writes them)")
        return 1
    w = fit_weight(cases, GRID)
    by_cat: dict = {}
    for c in cases:
        by_cat.setdefault(c[2], []).append(c)
    hits = 0
    macro = []
    for cat, own in sorted(by_cat.items()):
        rest = [c for c in cases if c[2] != cat]
        w_cat = fit_weight(rest, GRID) if rest else w
        r = rank1(own, w_cat)
        hits += r * len(own)
        macro.append(r)
        print(f"  {cat:<12} n={len(own):<3} weight fitted without it {w_cat:<8g} rank-1 {100 * r:.1f} %")
    n = len(cases)
    print(f"{args.level}: {n} eligible cases, {len(by_cat)} individuals")
    print(f"  pattern score first        rank-1 {100 * rank1(cases, 1e6):.1f} %")
    print(f"  location prior alone       rank-1 {100 * rank1(cases, 0.0):.1f} %")
    print(f"  fused, weight {w:<8g}     rank-1 {100 * rank1(cases, w):.1f} % (fitted on these cases)")
    print(f"  fused, leave-one-individual-out: rank-1 {100 * hits / n:.1f} %, macro {100 * sum(macro) / len(macro):.1f} %")
    if not math.isfinite(w):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
