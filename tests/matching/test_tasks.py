import pytest
from django.conf import settings
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from catalog.models import SightingStatus
from matching import runs, tasks
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import install_engine, ranking_engine

pytestmark = pytest.mark.django_db


def _funcs(broker):
    """Functions of the queued tasks, in the order a worker of this queue would get them."""
    funcs = []
    while broker.queue_size():
        funcs += [SignedPackage.loads(payload)["func"] for _, payload in (broker.dequeue() or [])]
    return funcs


@pytest.fixture(autouse=True)
def empty_queues():
    # The Redis broker keeps its lists between tests; the ORM one is rolled back anyway.
    for name in (settings.QUEUE_INTERACTIVE, settings.QUEUE_BULK):
        get_broker(name).purge_queue()


def test_interactive_identification_never_waits_behind_bulk_work(org_a, bob, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(Conf, "BULK", 100)
    for i in range(5):
        SightingFactory(organization=org_a, individual=IndividualFactory(), status=SightingStatus.IDENTIFIED)
    assert tasks.reindex_catalog() == 5  # five bulk index jobs queued first
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.match_run_start(sighting=sighting, requested_by=bob)

    # The interactive cluster (the default `manage.py qcluster`) reads only its own queue:
    # its next task is the identification, whatever the bulk backlog holds.
    interactive = get_broker()
    assert settings.QUEUE_INTERACTIVE == Conf.CLUSTER_NAME
    assert interactive.list_key == get_broker(settings.QUEUE_INTERACTIVE).list_key
    assert _funcs(interactive) == ["matching.tasks.identify"]
    assert _funcs(get_broker(settings.QUEUE_BULK)) == ["matching.tasks.index_sighting"] * 5
    assert run.pk


def test_bulk_cluster_is_configured_apart_from_the_interactive_one():
    alt = settings.Q_CLUSTER["ALT_CLUSTERS"]
    assert settings.Q_CLUSTER["name"] == settings.QUEUE_INTERACTIVE
    assert settings.QUEUE_BULK in alt
    # Retries redeliver a task whose worker died, after its timeout has certainly passed.
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    assert alt[settings.QUEUE_BULK]["retry"] > alt[settings.QUEUE_BULK]["timeout"]
    assert settings.Q_CLUSTER["max_attempts"] >= 2


def test_identify_through_the_queue_in_sync_mode_completes(org_a, bob, q_sync, monkeypatch, django_capture_on_commit_callbacks):
    cat = IndividualFactory()
    SightingImageFactory(sighting=SightingFactory(organization=org_a, individual=cat, status=SightingStatus.IDENTIFIED))
    install_engine(monkeypatch, ranking_engine([cat]))
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.match_run_start(sighting=sighting, requested_by=bob)
    run.refresh_from_db()
    assert run.state == "done" and run.candidates.get().individual == cat


def test_index_sighting_indexes_only_reference_sightings(org_a, monkeypatch):
    indexed = []
    install_engine(monkeypatch, ranking_engine([]), catalog_index_add=lambda *, sighting: indexed.append(sighting.pk))
    confirmed = SightingFactory(organization=org_a, individual=IndividualFactory(), status=SightingStatus.IDENTIFIED)
    undone = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    tasks.index_sighting(confirmed.pk)
    tasks.index_sighting(undone.pk)
    tasks.index_sighting(999999)
    assert indexed == [confirmed.pk]


def test_bulk_tasks_are_sent_to_the_bulk_queue_by_name():
    async_task("matching.tasks.reindex_catalog", cluster=settings.QUEUE_BULK)
    assert get_broker(settings.QUEUE_BULK).queue_size() == 1
    assert get_broker(settings.QUEUE_INTERACTIVE).queue_size() == 0
