"""A stand-in engine for the journey's tests: the lifecycle is tested, not the matching."""

import importlib
import sys
import types

from catalog.models import SightingImage
from matching.models import MatchCandidate


class SimulatedCrash(BaseException):
    """Like a worker killed mid-task: not an Exception, so nothing catches it on the way out."""


def install_engine(monkeypatch, identify_run, catalog_index_add=None):
    """Swap matching.services' engine functions (a bare module while H2b's is not there yet)."""
    try:
        services = importlib.import_module("matching.services")
    except ImportError:
        services = types.ModuleType("matching.services")
        monkeypatch.setitem(sys.modules, "matching.services", services)
        monkeypatch.setattr(sys.modules["matching"], "services", services, raising=False)
    monkeypatch.setattr(services, "identify_run", identify_run, raising=False)
    monkeypatch.setattr(services, "catalog_index_add", catalog_index_add or (lambda *, sighting: None), raising=False)
    return services


def ranking_engine(individuals, *, crash_after_candidates: int | None = None, calls: list | None = None):
    """identify_run that ranks `individuals` in order, with progress, optionally dying mid-run."""

    def identify_run(*, run, progress=None):
        if calls is not None:
            calls.append(run.pk)
        queries = list(SightingImage.objects.filter(sighting=run.sighting))
        for i, _ in enumerate(queries, 1):
            if progress:
                progress("extracting", i, len(queries))
        if progress:
            progress("matching", 0, len(individuals))
        for rank, individual in enumerate(individuals, 1):
            reference = SightingImage.objects.filter(sighting__individual=individual).first()
            MatchCandidate.objects.create(
                run=run, individual=individual, rank=rank, score=10.0 / rank,
                confidence="excellent" if rank == 1 else "uncertain", num_inliers=60 // rank,
                body_parts=["left_flank"], query_image=queries[0], reference_image=reference,
                matches=[[5, 5, 6, 6], [20, 10, 22, 11], [30, 30, 31, 33]],
            )
            if crash_after_candidates is not None and rank >= crash_after_candidates:
                raise SimulatedCrash()
            if progress:
                progress("matching", rank, len(individuals))
        run.likely_new = False
        run.top_score = 10.0 if individuals else None
        run.save(update_fields=["likely_new", "top_score"])

    return identify_run
