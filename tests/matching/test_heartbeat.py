"""A dead worker is noticed: heartbeats, the "worker stopped; retrying" notice, requeue, attempt ownership."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.signing import SignedPackage

from catalog.models import SightingStatus
from matching import runs, tasks
from matching.engine import scoring
from matching.models import MatchCandidate, MatchRun, RunState
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import SimulatedCrash, install_engine, ranking_engine

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_queue(settings):
    settings.MATCHING_HEARTBEAT_STALE_SECONDS = 60
    get_broker(settings.QUEUE_INTERACTIVE).purge_queue()


@pytest.fixture
def sighting(org_a):
    s = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=s)
    return s


@pytest.fixture
def catalog(org_b):
    cats = []
    for _ in range(2):
        cat = IndividualFactory()
        SightingImageFactory(sighting=SightingFactory(organization=org_b, individual=cat, status=SightingStatus.IDENTIFIED))
        cats.append(cat)
    return cats


def _queued_identifications() -> list:
    broker = get_broker("interactive")
    found = []
    while broker.queue_size():
        found += [SignedPackage.loads(payload)["args"] for _, payload in (broker.dequeue() or [])]
    return found


def _killed_mid_run(sighting, bob, catalog, monkeypatch, *, silent_for: float) -> MatchRun:
    """A run whose worker died while matching (no cleanup ran), `silent_for` seconds ago."""
    install_engine(monkeypatch, ranking_engine(catalog, crash_after_candidates=1))
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    with pytest.raises(SimulatedCrash):
        tasks.identify(run.pk)
    MatchRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=silent_for))
    run.refresh_from_db()
    assert run.state == RunState.MATCHING and run.attempts == 1
    _queued_identifications()  # the first delivery is gone with its worker
    return run


def test_a_silent_run_is_shown_as_stopped_and_requeued_once(client, bob, sighting, catalog, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    run = _killed_mid_run(sighting, bob, catalog, monkeypatch, silent_for=90)
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.get(reverse("run_status", args=[run.pk])).json()
        again = client.get(reverse("run_status", args=[run.pk])).json()
        page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
        swept = tasks.requeue_stale_runs()
    assert first["worker_stopped"] and first["state"] == RunState.QUEUED and not first["finished"]
    assert "The worker stopped; retrying (attempt 2 of 3)" in first["notice"]
    assert again["worker_stopped"] and "The worker stopped; retrying" in page
    assert _queued_identifications() == [(run.pk,)] and swept == 0

    # The next attempt (a live worker) takes it up and finishes it; the notice goes away.
    install_engine(monkeypatch, ranking_engine(catalog))
    tasks.identify(run.pk)
    done = client.get(reverse("run_status", args=[run.pk])).json()
    assert done["state"] == RunState.DONE and not done["worker_stopped"] and not done["notice"]
    assert MatchRun.objects.get(pk=run.pk).attempts == 2
    assert list(MatchCandidate.objects.filter(run=run).values_list("individual", flat=True)) == [c.pk for c in catalog]


def test_the_periodic_check_requeues_an_unwatched_silent_run(bob, sighting, catalog, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    run = _killed_mid_run(sighting, bob, catalog, monkeypatch, silent_for=61)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.requeue_stale_runs() == 1
        assert tasks.requeue_stale_runs() == 0
    assert MatchRun.objects.get(pk=run.pk).state == RunState.QUEUED
    assert _queued_identifications() == [(run.pk,)]


def test_a_beating_run_is_neither_shown_as_stopped_nor_requeued(client, bob, sighting, catalog, monkeypatch,
                                                                django_capture_on_commit_callbacks):
    run = _killed_mid_run(sighting, bob, catalog, monkeypatch, silent_for=20)  # within the 60 s
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        status = client.get(reverse("run_status", args=[run.pk])).json()
        page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
        assert tasks.requeue_stale_runs() == 0
    assert status["state"] == RunState.MATCHING and not status["worker_stopped"] and not status["notice"]
    assert "The worker stopped" not in page
    assert _queued_identifications() == []


def test_a_second_delivery_of_a_run_whose_worker_beats_does_nothing(bob, sighting, catalog, monkeypatch):
    run = _killed_mid_run(sighting, bob, catalog, monkeypatch, silent_for=5)
    calls = []
    install_engine(monkeypatch, ranking_engine(catalog, calls=calls))
    assert tasks.identify(run.pk) is None
    run.refresh_from_db()
    assert calls == [] and run.attempts == 1 and run.state == RunState.MATCHING


def test_a_run_whose_worker_keeps_stopping_fails_with_its_reason_and_a_retry_button(
        client, bob, sighting, catalog, monkeypatch, settings, django_capture_on_commit_callbacks):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "max_attempts": 2}
    run = _killed_mid_run(sighting, bob, catalog, monkeypatch, silent_for=90)
    assert runs.match_run_requeue_stale(run_id=run.pk)
    with pytest.raises(SimulatedCrash):
        tasks.identify(run.pk)  # attempt 2 dies too
    MatchRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=90))
    client.force_login(bob)
    status = client.get(reverse("run_status", args=[run.pk])).json()
    assert status["state"] == RunState.FAILED and status["finished"] and not status["worker_stopped"]
    assert "The worker stopped 2 times" in status["error"]
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.SUBMITTED
    assert "retry-button" in client.get(reverse("run_detail", args=[run.pk])).content.decode()


def _cheap_real_engine(monkeypatch, matching_step):
    """The real services.identify_run (its candidate write included) over a stand-in matcher."""
    from matching import services

    monkeypatch.setattr(services, "_device", lambda: "cpu")
    monkeypatch.setattr(services, "features_extract", lambda *, image, extractor=None: SimpleNamespace())
    monkeypatch.setattr(services, "_FEATURES", SimpleNamespace(get=lambda fs: None))
    monkeypatch.setattr(services, "_catalog_index", lambda name, progress=None, **kw: SimpleNamespace(entries={}))
    monkeypatch.setattr(services.calibration, "load", lambda **kw: None)
    monkeypatch.setattr(services.scoring, "identify", lambda queries, index, features_of, progress=None, **kw:
                        matching_step(progress))
    install_engine(monkeypatch, services.identify_run)


def _ranking(individual) -> scoring.Identification:
    return scoring.Identification(candidates=[scoring.Candidate(individual=individual.pk, score=1.0, best=None)],
                                  likely_new=False, top_score=1.0)


@pytest.mark.parametrize("reports_after_the_pause", [True, False])
def test_the_late_result_of_an_attempt_taken_for_dead_does_not_overwrite_the_next_one(
        bob, sighting, catalog, monkeypatch, reports_after_the_pause):
    old, new = catalog
    attempts, stopped_at_the_report = [], []

    def matching_step(progress):
        attempts.append(len(attempts) + 1)
        if len(attempts) == 2:  # the next attempt, on another worker
            return _ranking(new)
        # The first worker stalls past the silence limit; it is requeued and the next one finishes.
        MatchRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
        assert runs.match_run_requeue_stale(run_id=run.pk)
        assert runs.match_run_execute(run_id=run.pk).state == RunState.DONE
        if reports_after_the_pause:
            progress("matching", 1, 1)
            stopped_at_the_report.append(False)  # not reached: the report itself stops the old worker
        return _ranking(old)

    _cheap_real_engine(monkeypatch, matching_step)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    assert runs.match_run_execute(run_id=run.pk) is None  # the old attempt stops without a word
    run.refresh_from_db()
    assert attempts == [1, 2] and stopped_at_the_report == []
    assert run.state == RunState.DONE and run.attempts == 2
    assert list(run.candidates.values_list("individual", flat=True)) == [new.pk]


def test_requeue_schedule_is_created_once_for_the_interactive_cluster(settings):
    runs.requeue_schedule_ensure()
    runs.requeue_schedule_ensure()
    schedule = Schedule.objects.get(func="matching.tasks.requeue_stale_runs")
    assert schedule.cluster == settings.QUEUE_INTERACTIVE
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1 and schedule.repeats < 0


@pytest.mark.django_db(transaction=True)
def test_a_long_step_without_progress_reports_still_beats(org_a, bob, settings, monkeypatch):
    settings.MATCHING_HEARTBEAT_SECONDS = 0.05
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    seen = []

    def long_silent_step(*, run, progress=None):
        claimed = MatchRun.objects.get(pk=run.pk).heartbeat_at
        time.sleep(0.6)
        seen.append(MatchRun.objects.get(pk=run.pk).heartbeat_at - claimed)

    install_engine(monkeypatch, long_silent_step)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    assert seen and seen[0] >= timedelta(seconds=0.3)
    assert MatchRun.objects.get(pk=run.pk).state == RunState.DONE
