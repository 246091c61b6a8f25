"""Measure calibrated fusion of several matchers on evaluate reports of the same queries.

    python scripts/fuse_matchers.py fast.json accurate.json [seed.json ...] [--level images|sightings]

Each report is a `manage.py evaluate --json` run (any mode or method) on the same sample
(`--max-queries N --seed S`); their `prior_cases` (images) or `encounter_prior_cases` (sightings) are
lined up by query, and only the queries every report ran are used. Prints rank-1 and macro rank-1
for each matcher alone and for the fusions of matching/engine/fusion.py, with and without the
location prior; every fused figure is leave-one-individual-out (a cat's queries are ranked by a fit
that never saw them), next to the weights fitted on all the cases.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.engine import fusion  # noqa: E402


def label(report: dict, path: str) -> str:
    name = report.get("mode") if report.get("method") == "default" else report.get("method")
    return f"{name or Path(path).stem}{' full frames' if report.get('ignore_boxes') else ''}"


def load_cases(paths: list[str], level: str) -> tuple[list[str], list[fusion.Case]]:
    key = "prior_cases" if level == "images" else "encounter_prior_cases"
    field = "query" if level == "images" else "encounter"
    names, tables, weights = [], [], []
    for path in paths:
        report = json.loads(Path(path).read_text())
        weights.append((report.get("location_prior") or {}).get("weight"))
        rows = report.get(key, [])
        if rows and field not in rows[0]:
            raise SystemExit(f"{path}: its {key} do not name their {field} (evaluate of this version writes it)")
        names.append(label(report, path))
        tables.append({row[field]: row for row in rows})
    common = sorted(set.intersection(*(set(t) for t in tables))) if tables else []
    cases = [fusion.Case(scores=tuple(t[q]["pattern"] for t in tables), prior=tables[0][q]["prior"],
                         truth=tables[0][q]["individual"]) for q in common]
    return names, cases, weights


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--level", choices=["images", "sightings"], default="sightings")
    args = parser.parse_args(argv)
    names, cases, weights = load_cases(args.reports, args.level)
    if not cases:
        print("no query is in every report (were they run on the same --max-queries/--seed sample?)")
        return 1
    print(f"{args.level}: {len(cases)} queries in every report, {len({c.truth for c in cases})} individuals")
    rows = []

    def row(text, figures, note="(leave one individual out)"):
        rows.append((text, figures, note))

    for m, name in enumerate(names):
        one = _only(cases, [m])
        alone = fusion.logit_rank([1.0], with_prior=False)
        row(f"{name}, photos alone (raw score)", (fusion.rank1(one, alone), fusion.rank1_macro(one, alone)), "")
        if weights[m] is not None:
            shipped = fusion.logit_rank([weights[m]])
            row(f"{name} + location prior at the shipped weight {weights[m]:g}",
                (fusion.rank1(one, shipped), fusion.rank1_macro(one, shipped)), "(weight chosen on the developer set)")
    everyone = list(range(len(names)))
    for with_prior in (False, True):
        tag = "+ location prior" if with_prior else "photos alone"
        for use in ([[m] for m in everyone] if with_prior else []) + ([everyone] if len(names) > 1 else []):
            pick = [names[m] for m in use]

            chosen = _only(cases, use)
            r1, macro, _ = fusion.leave_one_individual_out(
                chosen, lambda rest, with_prior=with_prior: fusion.fit_logit(rest, with_prior=with_prior),
                lambda w, with_prior=with_prior: fusion.logit_rank(w, with_prior=with_prior))
            w_all = fusion.fit_logit(chosen, with_prior=with_prior)
            weights = ", ".join(f"{n} {w:.3g}" for n, w in zip(pick, w_all))
            row(f"logit {' + '.join(pick)} {tag} (weights on all: {weights})", (r1, macro))
    if len(names) > 1:
        r1, macro, _ = fusion.leave_one_individual_out(cases, fusion.fit_calibrations, fusion.calibrated_mean)
        row(f"calibrated mean of {' + '.join(names)} (WildFusion), photos alone", (r1, macro))
    width = max(len(text) for text, _, _ in rows)
    for text, (r1, macro), note in rows:
        print(f"  {text:<{width}}  rank-1 {100 * r1:5.1f} %   macro {100 * macro:5.1f} %   {note}")
    return 0


def _only(cases: list[fusion.Case], use: list[int]) -> list[fusion.Case]:
    return [fusion.Case(scores=tuple(c.scores[m] for m in use), prior=c.prior, truth=c.truth) for c in cases]


if __name__ == "__main__":
    raise SystemExit(main())
