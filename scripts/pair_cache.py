"""Carry an evaluate pair cache between checkouts: the seed baseline's exhaustive pairs take hours on a CPU.

    python scripts/pair_cache.py export CACHE.pkl DATASET_DIR OUT.csv
    python scripts/pair_cache.py import IN.csv DATASET_DIR CACHE.pkl

The cache (`var/eval-cache/<set>/<extractor tag>/pairs-*.pkl`) lives in an ignored folder, so a
fresh checkout starts it empty. `export` writes its pairs as a small CSV of numbers only (no image,
no path): the rows of the data set's labels.csv by index (0 = the first data row), the pair's score
and its seconds, under a first line that holds labels.csv's SHA-256. `import` merges such a CSV into
a cache and refuses one made from a different labels.csv, since its row numbers would name other
images. docs/data/ holds the seed baseline's pairs of the developer set (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.engine.evaluation_runner import PairCache  # noqa: E402

FIELDS = ["query", "reference", "score", "seconds"]


def labels_digest(dataset_dir: Path) -> str:
    return hashlib.sha256((Path(dataset_dir) / "labels.csv").read_bytes()).hexdigest()


def export(cache_path: Path, dataset_dir: Path, out: Path) -> int:
    cache = PairCache(Path(cache_path))
    with Path(out).open("w", newline="") as fh:
        fh.write(f"# labels_sha256={labels_digest(dataset_dir)}\n")
        writer = csv.writer(fh)
        writer.writerow(FIELDS)
        for (q, g), (score, seconds) in sorted(cache.items()):
            writer.writerow([q, g, f"{score:.6g}", f"{seconds:.3g}"])
    return len(cache)


def import_(csv_path: Path, dataset_dir: Path, cache_path: Path) -> int:
    with Path(csv_path).open(newline="") as fh:
        first = fh.readline().strip()
        want = f"# labels_sha256={labels_digest(dataset_dir)}"
        if first != want:
            raise SystemExit(f"{csv_path} was made from another labels.csv than {dataset_dir}'s; not imported")
        rows = list(csv.DictReader(fh))
    cache = PairCache(Path(cache_path))
    before = len(cache)
    for row in rows:
        cache.setdefault((int(row["query"]), int(row["reference"])), (float(row["score"]), float(row["seconds"])))
    Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
    cache.save()
    return len(cache) - before


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export")
    ex.add_argument("cache")
    ex.add_argument("dataset_dir")
    ex.add_argument("out")
    im = sub.add_parser("import")
    im.add_argument("csv")
    im.add_argument("dataset_dir")
    im.add_argument("cache")
    args = parser.parse_args(argv)
    if args.command == "export":
        print(f"wrote {export(args.cache, args.dataset_dir, args.out)} pairs to {args.out}")
    else:
        print(f"added {import_(args.csv, args.dataset_dir, args.cache)} pairs to {args.cache}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
