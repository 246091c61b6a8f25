"""Which extractors and matchers can run on this machine, and why the others cannot."""

from django.conf import settings
from django.core.management.base import BaseCommand

from matching.engine import detector, weights
from matching.engine.extractors import EXTRACTORS, extractor_status, resolve_device
from matching.engine.matcher import matcher_method


class Command(BaseCommand):
    help = "List extractors and matchers, whether they are usable here and why not, weight paths and device."

    def handle(self, *args, **options):
        weights.configure(settings.MATCHING_WEIGHTS_DIR)
        try:
            device = resolve_device(settings.MATCHING_DEVICE)
        except RuntimeError as exc:
            device = f"unusable ({exc})"
        self.stdout.write(f"device: {device} (MATCHING_DEVICE={settings.MATCHING_DEVICE})")
        self.stdout.write(f"weights folder: {weights.weights_dir()}")
        self.stdout.write(f"torch hub cache: {weights.hub_checkpoints_dir()}")
        self.stdout.write(f"default extractor: {settings.MATCHING_DEFAULT_EXTRACTOR}")
        self.stdout.write("")
        for name in EXTRACTORS:
            state = extractor_status(name)
            label = self.style.SUCCESS("usable") if state["usable"] else self.style.ERROR("NOT usable")
            self.stdout.write(f"{name} (version {state['version']}): {label}; matcher: {matcher_method(name)}")
            self.stdout.write(f"    {state['description']}")
            self.stdout.write(f"    licence: {state['licence']}")
            for problem in state["weights"]:
                if not problem["usable"]:
                    self.stdout.write(f"    why not: {problem['reason']}")
        self.stdout.write("")
        self.stdout.write("weight files:")
        for name, spec in weights.WEIGHTS.items():
            state = weights.status(name)
            where = state["path"] if state["usable"] else "missing or unverified"
            pinned = spec.sha256 or "not pinned (" + spec.sha256_note + ")"
            self.stdout.write(f"  {name:22} {where}")
            self.stdout.write(f"  {'':22} sha256: {pinned}")
        self.stdout.write("")
        box = detector.status()
        enabled = "enabled" if settings.DETECTOR_ENABLED else "disabled (DETECTOR_ENABLED=False)"
        usable = self.style.SUCCESS("usable") if box["usable"] else self.style.ERROR("NOT usable: " + box["reason"])
        self.stdout.write(f"box detector {box['name']} ({box['version']}): {usable}; {enabled}")
        self.stdout.write(f"    licence: {box['licence']}; weights: {box['path'] or 'missing'}")
