"""Download official weight files into the weights folder, verifying their checksums."""

import torch
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matching.engine import weights

# Files not shipped in the installed wheels; the others are fetched only when named.
DEFAULT_NAMES = ["sift_lightglue", "superpoint_lightglue"]


def _check_state_dict(path) -> None:
    """Reject a download that is not a LightGlue/SuperPoint state dict (used where no sha256 is pinned)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not state:
        raise ValueError("not a state dict")
    keys = " ".join(state)
    if "posenc.Wr.weight" not in keys and "conv1a.weight" not in keys:
        raise ValueError("state dict has neither LightGlue nor SuperPoint parameter names")


class Command(BaseCommand):
    help = (
        "Download official weight files (default: sift_lightglue superpoint_lightglue; superpoint_v1 only when "
        "named, because its licence is non-commercial) into MATCHING_WEIGHTS_DIR, verifying sha256."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help=f"weights to fetch, of: {', '.join(weights.WEIGHTS)}")
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args, names, timeout, **options):
        weights.configure(settings.MATCHING_WEIGHTS_DIR)
        names = names or DEFAULT_NAMES
        unknown = [n for n in names if n not in weights.WEIGHTS]
        if unknown:
            raise CommandError(f"unknown weights {', '.join(unknown)}; known: {', '.join(weights.WEIGHTS)}")
        failures = []
        for name in names:
            if name == "superpoint_v1":
                self.stdout.write(self.style.WARNING(weights.NONCOMMERCIAL_SUPERPOINT))
            try:
                path = weights.fetch(name, timeout=timeout, validate=_check_state_dict)
            except weights.WeightsUnavailable as exc:
                failures.append(name)
                self.stderr.write(self.style.ERROR(str(exc)))
                continue
            self.stdout.write(self.style.SUCCESS(f"{name}: {path} (sha256 {weights.sha256_of(path)})"))
        if failures:
            raise CommandError(f"could not fetch: {', '.join(failures)}")
