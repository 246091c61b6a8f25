import pytest
import torch
from django.contrib.auth.models import User

from catalog.models import Membership, Organization, Role


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def throttle_counters():
    """Each test starts with empty DRF throttle counters (the default cache is per process)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def org_a(db):
    return Organization.objects.create(name="Snow Leopard Trust Kyrgyzstan", slug="slt-kg")


@pytest.fixture
def org_b(db):
    return Organization.objects.create(name="Panthera Tajikistan", slug="panthera-tj")


@pytest.fixture
def org_c(db):
    return Organization.objects.create(name="WWF Mongolia", slug="wwf-mn")


def _member(username: str, org: Organization, role: str) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    Membership.objects.create(user=user, organization=org, role=role)
    return user


@pytest.fixture
def alice(org_a):
    """Reviewer of organisation A."""
    return _member("alice", org_a, Role.REVIEWER)


@pytest.fixture
def bob(org_a):
    """Contributor of organisation A (shares A with alice)."""
    return _member("bob", org_a, Role.CONTRIBUTOR)


@pytest.fixture
def charlie(org_b):
    """Org admin of organisation B: no access to A's sightings."""
    return _member("charlie", org_b, Role.ORG_ADMIN)


@pytest.fixture
def staff(db):
    return User.objects.create_user(username="admin", password="pw-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def q_sync(monkeypatch):
    """Run django-q2 tasks inline (use with django_capture_on_commit_callbacks(execute=True))."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for the detector's forward passes: on a busy 2-core machine, 2 spinning
    threads make a pass 100x slower. Modules that run the detector ask for it (usefixtures)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
