import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django_q.brokers import get_broker

from catalog.models import SightingStatus
from matching import runs, tasks
from matching.models import MatchCandidate, MatchRun, RunState
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import SimulatedCrash, install_engine, ranking_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def sighting(org_a):
    s = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=s)
    SightingImageFactory(sighting=s)
    return s


@pytest.fixture
def catalog(org_b):
    cats = []
    for _ in range(3):
        cat = IndividualFactory()
        SightingImageFactory(sighting=SightingFactory(organization=org_b, individual=cat, status=SightingStatus.IDENTIFIED))
        cats.append(cat)
    return cats


def test_start_queues_run_and_marks_sighting_identifying(sighting, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = runs.match_run_start(sighting=sighting, requested_by=bob, filters={"body_parts": ["left_flank"]})
    sighting.refresh_from_db()
    assert run.state == RunState.QUEUED and run.progress_total == 2
    assert run.filters == {"locations": [], "body_parts": ["left_flank"], "location_prior": True}
    assert sighting.status == SightingStatus.IDENTIFYING
    assert len(callbacks) == 1
    queued = get_broker("interactive").dequeue()
    assert len(queued) == 1


def test_charlie_cannot_start_identification_of_another_organisations_sighting(sighting, charlie):
    with pytest.raises(PermissionDenied):
        runs.match_run_start(sighting=sighting, requested_by=charlie)
    assert not MatchRun.objects.exists()


def test_start_refuses_a_sighting_without_images(org_a, bob):
    with pytest.raises(ValidationError):
        runs.match_run_start(sighting=SightingFactory(organization=org_a), requested_by=bob)


def test_start_refuses_a_decided_sighting(sighting, bob, catalog):
    sighting.status, sighting.individual = SightingStatus.IDENTIFIED, catalog[0]
    sighting.save()
    with pytest.raises(ValidationError):
        runs.match_run_start(sighting=sighting, requested_by=bob)


def test_execute_moves_through_states_to_awaiting_review(sighting, bob, catalog, monkeypatch):
    seen = []
    engine = ranking_engine(catalog)

    def watching(*, run, progress=None):
        def spy(stage, i, n):
            progress(stage, i, n)
            seen.append((MatchRun.objects.get(pk=run.pk).state, i, n))
        engine(run=run, progress=spy)

    install_engine(monkeypatch, watching)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    run.refresh_from_db()
    sighting.refresh_from_db()
    assert ("extracting", 1, 2) in seen and ("matching", 3, 3) in seen
    assert run.state == RunState.DONE and run.attempts == 1 and run.finished_at
    assert sighting.status == SightingStatus.AWAITING_REVIEW
    assert [c.individual for c in run.candidates.all()] == catalog


def test_the_index_trains_only_after_the_answer_is_saved_and_not_after_a_failure(sighting, bob, catalog, monkeypatch):
    from matching import services

    states_when_trained = []
    monkeypatch.setattr(services, "catalog_index_train", lambda *, extractor: states_when_trained.append(
        MatchRun.objects.filter(sighting=sighting).latest("pk").state))
    install_engine(monkeypatch, ranking_engine(catalog))
    tasks.identify(runs.match_run_start(sighting=sighting, requested_by=bob).pk)
    assert states_when_trained == [RunState.DONE]

    def broken(*, run, progress=None):
        raise RuntimeError("engine down")

    install_engine(monkeypatch, broken)
    again = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(again.pk)
    assert MatchRun.objects.get(pk=again.pk).state == RunState.FAILED
    assert states_when_trained == [RunState.DONE]


def test_worker_killed_mid_run_loses_nothing_and_rerun_completes_without_duplicates(sighting, bob, catalog, monkeypatch):
    install_engine(monkeypatch, ranking_engine(catalog, crash_after_candidates=2))
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    with pytest.raises(SimulatedCrash):
        tasks.identify(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.MATCHING and run.candidates.count() == 2  # half-written, as a kill leaves it

    # The broker redelivers the unacknowledged task; this time the worker survives.
    install_engine(monkeypatch, ranking_engine(catalog))
    tasks.identify(run.pk)
    run.refresh_from_db()
    sighting.refresh_from_db()
    assert run.state == RunState.DONE and run.attempts == 2
    assert sighting.status == SightingStatus.AWAITING_REVIEW
    assert list(run.candidates.values_list("rank", flat=True)) == [1, 2, 3]
    assert MatchCandidate.objects.count() == 3


def test_redelivered_task_of_a_finished_run_changes_nothing(sighting, bob, catalog, monkeypatch):
    calls = []
    install_engine(monkeypatch, ranking_engine(catalog, calls=calls))
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    tasks.identify(run.pk)
    assert calls == [run.pk]
    assert MatchCandidate.objects.count() == 3


def test_engine_error_fails_the_run_with_its_reason_and_retry_starts_again(sighting, bob, catalog, monkeypatch):
    def broken(*, run, progress=None):
        raise RuntimeError("no reference features for extractor aliked")

    install_engine(monkeypatch, broken)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    run.refresh_from_db()
    sighting.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "no reference features" in run.error
    assert sighting.status == SightingStatus.SUBMITTED

    install_engine(monkeypatch, ranking_engine(catalog))
    again = runs.match_run_retry(run=run, requested_by=bob)
    tasks.identify(again.pk)
    again.refresh_from_db()
    assert again.state == RunState.DONE and again.extractor == run.extractor
    assert MatchRun.objects.get(pk=run.pk).state == RunState.FAILED  # history kept


def test_a_run_that_keeps_killing_its_worker_is_given_up_after_max_attempts(sighting, bob, catalog, monkeypatch, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "max_attempts": 2}
    install_engine(monkeypatch, ranking_engine(catalog, crash_after_candidates=1))
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    for _ in range(2):
        with pytest.raises(SimulatedCrash):
            tasks.identify(run.pk)
    tasks.identify(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "2 attempts" in run.error
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.SUBMITTED


def test_newer_run_supersedes_an_unfinished_one(sighting, bob, catalog, monkeypatch):
    install_engine(monkeypatch, ranking_engine(catalog))
    first = runs.match_run_start(sighting=sighting, requested_by=bob)
    second = runs.match_run_start(sighting=sighting, requested_by=bob, filters={"body_parts": ["head"]})
    tasks.identify(first.pk)
    first.refresh_from_db()
    assert first.state == RunState.FAILED and first.candidates.count() == 0
    tasks.identify(second.pk)
    second.refresh_from_db()
    assert second.state == RunState.DONE


def test_run_superseded_while_running_does_not_move_the_sighting(sighting, bob, catalog, monkeypatch):
    holder = {}
    engine = ranking_engine(catalog)

    def restarting(*, run, progress=None):
        if "second" not in holder:
            holder["second"] = runs.match_run_start(sighting=sighting, requested_by=bob)
        engine(run=run, progress=progress)
        run.save()  # an engine that saves every field must not resurrect a superseded run

    install_engine(monkeypatch, restarting)
    first = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(first.pk)
    first.refresh_from_db()
    sighting.refresh_from_db()
    assert first.state == RunState.FAILED
    assert sighting.status == SightingStatus.IDENTIFYING


def test_admin_retry_action_restarts_failed_runs(sighting, bob, staff, client, monkeypatch):
    def broken(*, run, progress=None):
        raise RuntimeError("boom")

    install_engine(monkeypatch, broken)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    client.force_login(staff)
    page = client.get("/admin/matching/matchrun/")
    assert page.status_code == 200 and "boom" in page.content.decode()
    response = client.post("/admin/matching/matchrun/", {"action": "retry_runs", "_selected_action": [run.pk]})
    assert response.status_code == 302
    assert MatchRun.objects.filter(state=RunState.QUEUED).count() == 1
