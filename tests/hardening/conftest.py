import csv
import io
import json
import zipfile

import pytest

from catalog.models import Sighting, SightingImage
from tests.api.conftest import api, decisions, dora, fast_password_hasher, world  # noqa: F401 - shared fixtures
from tests.imports.conftest import make_zip, olga  # noqa: F401 - shared fixtures


def _csv(rows: list[dict], header: list[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


DEPLOYMENT_COLUMNS = ["deploymentID", "locationID", "locationName", "latitude", "longitude", "deploymentStart",
                      "deploymentEnd", "deploymentGroups"]
MEDIA_COLUMNS = ["mediaID", "deploymentID", "timestamp", "filePath", "fileName"]
OBSERVATION_COLUMNS = ["observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
                       "observationLevel", "observationType", "scientificName", "individualID"]


@pytest.fixture
def camtrap_zip(tmp_path):
    """A Camtrap DP zip from row dicts; `tables` replaces a table's bytes outright (garbage, wrong columns)."""

    def make(*, deployments, media=(), observations=(), files=None, tables=None, title="Sarychat", name="package.zip"):
        descriptor = {"name": "test-package", "title": title, "resources": [
            {"name": "deployments", "path": "deployments.csv"},
            {"name": "media", "path": "media.csv"},
            {"name": "observations", "path": "observations.csv"},
        ]}
        content = {
            "datapackage.json": json.dumps(descriptor).encode(),
            "deployments.csv": _csv(list(deployments), DEPLOYMENT_COLUMNS),
            "media.csv": _csv(list(media), MEDIA_COLUMNS),
            "observations.csv": _csv(list(observations), OBSERVATION_COLUMNS),
            **(files or {}),
            **(tables or {}),
        }
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in content.items():
                zf.writestr(member, data)
        return path

    return make


def photo_event(n: int, deployment: str, data_name: str) -> tuple[dict, dict]:
    """A media row and its media-level animal observation, event `e<n>`."""
    media = {"mediaID": f"m{n}", "deploymentID": deployment, "timestamp": f"2024-03-01T06:{n:02d}:00Z",
             "filePath": f"media/{data_name}", "fileName": data_name}
    observation = {"observationID": f"o{n}", "deploymentID": deployment, "mediaID": f"m{n}", "eventID": f"e{n}",
                   "eventStart": media["timestamp"], "eventEnd": media["timestamp"], "observationLevel": "media",
                   "observationType": "animal", "scientificName": "Panthera uncia"}
    return media, observation


def media_files(media_root) -> list[str]:
    """Stored files under media/, the uploads of import jobs included."""
    if not media_root.exists():
        return []
    return sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())


def nothing_stored(media_root) -> bool:
    return (not Sighting.objects.exists() and not SightingImage.objects.exists()
            and not media_files(media_root))

