import io

import cv2
import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command

from catalog import demo
from catalog.models import Individual, Membership, Organization, Role, Sighting, SightingImage, SightingStatus


def test_render_photo_is_deterministic_and_sized():
    a = demo.render_photo(3, 7, "left_flank", (320, 180))
    b = demo.render_photo(3, 7, "left_flank", (320, 180))
    assert a.size == (320, 180) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(demo.render_photo(3, 8, "left_flank", (320, 180))))


def test_render_photo_refuses_an_unknown_body_part():
    with pytest.raises(ValueError):
        demo.render_photo(1, 0, "wing")


def _sift(image):
    grey = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.SIFT_create(nfeatures=1500).detectAndCompute(grey, None)


def _inliers(a, b) -> int:
    (ka, da), (kb, db) = a, b
    good = [m for m, n in cv2.BFMatcher().knnMatch(da, db, k=2) if m.distance < 0.8 * n.distance]
    if len(good) < 8:
        return 0
    pa = np.float32([ka[m.queryIdx].pt for m in good])
    pb = np.float32([kb[m.trainIdx].pt for m in good])
    _, mask = cv2.findHomography(pa, pb, cv2.USAC_MAGSAC, 8.0)
    return int(mask.sum()) if mask is not None else 0


def test_new_photos_of_a_demo_coat_match_its_own_photos_better_than_other_coats():
    size = (800, 450)
    query = {i: _sift(demo.render_photo(i, 20, "left_flank", size, info_bar=False)) for i in (1, 2, 3)}
    gallery = {i: _sift(demo.render_photo(i, 0, "left_flank", size, info_bar=False)) for i in (1, 2, 3)}
    for i in (1, 2, 3):
        same = _inliers(query[i], gallery[i])
        others = max(_inliers(query[i], gallery[j]) for j in (1, 2, 3) if j != i)
        assert same > 2 * others and same >= 30, (i, same, others)


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_enqueues_reference_indexing(monkeypatch, django_capture_on_commit_callbacks, charlie):
    queued = []
    monkeypatch.setattr("catalog.management.commands.load_demo.async_task",
                        lambda path, *args, **kwargs: queued.append((path, args, kwargs)))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--individuals", "2", "--size", "320x180", stdout=out)
    text = out.getvalue()
    assert "username demo-admin" in text and "username demo-partner" in text
    assert Individual.objects.filter(is_demo=True).count() == 2
    reference = Sighting.objects.filter(status=SightingStatus.IDENTIFIED)
    assert reference.count() == 6
    assert all(s.organization.is_demo and s.individual.is_demo for s in reference)
    assert Sighting.objects.filter(status=SightingStatus.SUBMITTED).count() == 3
    images = SightingImage.objects.count()
    assert images >= 2 * 5
    assert sorted(q[1][0] for q in queued) == sorted(reference.values_list("pk", flat=True))
    assert all(q[0] == "matching.tasks.index_sighting" and q[2] == {"cluster": "bulk"} for q in queued)
    # The fast mode's features are there before the server starts: the first identification sees it all.
    from matching.models import FeatureSet

    extracted = set(FeatureSet.objects.filter(extractor=settings.MATCHING_DEFAULT_EXTRACTOR).values_list("image", flat=True))
    assert extracted == set(SightingImage.objects.filter(sighting__in=reference).values_list("pk", flat=True))
    partner = Membership.objects.get(user__username="demo-partner")
    assert partner.role == Role.REVIEWER and partner.organization.is_demo

    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--individuals", "2", "--size", "320x180", stdout=io.StringIO())
    assert SightingImage.objects.count() == images
    assert Sighting.objects.count() == 9
    assert Organization.objects.filter(is_demo=True).count() == 2
    assert queued == []
    # The outsider's organisation got nothing.
    assert not Sighting.objects.filter(organization=charlie.memberships.get().organization).exists()


@pytest.mark.django_db
def test_demo_partner_can_log_in_with_the_printed_password(client, monkeypatch):
    monkeypatch.setattr("catalog.management.commands.load_demo.async_task", lambda *a, **k: None)
    out = io.StringIO()
    call_command("load_demo", "--individuals", "1", "--size", "160x90", "--no-index", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "username demo-partner" in line)
    password = line.split("password", 1)[1].strip()
    # Through the login page, as a user does (the login limiter needs the request).
    response = client.post("/accounts/login/", {"username": "demo-partner", "password": password})
    assert response.status_code == 302
    assert client.session.get("_auth_user_id")


# import_catalog -----------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from django.core.management.base import CommandError  # noqa: E402

from catalog.models import BoxSource, Location  # noqa: E402

REID_DEV = Path(__file__).resolve().parents[3] / "shared" / "data" / "reid-dev"
HEADER = "path,individual_id,body_part,encounter_id,station,datetime,latitude,longitude,bbox_x,bbox_y,bbox_w,bbox_h\n"


def _write_photo(path: Path, seed: int, size=(160, 120)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    from PIL import Image

    Image.fromarray(pixels).save(path, "JPEG")


def _labelled_folder(root: Path, extra_rows: str = "") -> Path:
    for n in range(4):
        _write_photo(root / "images" / f"cat{n // 2 + 1:02d}" / f"f{n}.jpg", seed=n)
    (root / "labels.csv").write_text(
        HEADER
        + "images/cat01/f0.jpg,cat01,left_flank,enc1,Pamir/St01/Cam1,2012-05-13T06:14:04,,,10,10,50,40\n"
        + "images/cat01/f1.jpg,cat01,,enc1,Pamir/St01/Cam1,2012-05-13T06:14:09,,,,,,\n"
        + "images/cat02/f2.jpg,cat02,right_flank,enc2,Pamir/St02/Cam1,2012-06-01T22:00:00,,,,,,\n"
        + "images/cat02/f3.jpg,cat02,right_flank,enc3,Pamir/St02/Cam1,2012-06-03T22:00:00,38.1,73.9,,,,\n"
        + extra_rows
    )
    return root


@pytest.fixture
def no_enqueue(monkeypatch):
    queued = []
    monkeypatch.setattr("catalog.folder_import.async_task", lambda *a, **k: queued.append((a, k)))
    return queued


def _media_files(media_root: Path) -> list[Path]:
    return [p for p in (media_root / "images").rglob("*") if p.is_file()] if (media_root / "images").exists() else []


@pytest.mark.django_db
def test_import_catalog_reads_a_labelled_folder(tmp_path, org_a, no_enqueue, django_capture_on_commit_callbacks):
    folder = _labelled_folder(tmp_path / "pamir")
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_catalog", str(folder), "--organization", org_a.slug, "--time-zone", "Asia/Dushanbe", stdout=out)
    assert "3 new sightings, 4 photos, 2 new individuals" in out.getvalue()
    sightings = Sighting.objects.filter(organization=org_a)
    assert sightings.count() == 3 and all(s.status == SightingStatus.IDENTIFIED for s in sightings)
    enc1 = sightings.get(external_id="import:pamir:enc1")
    assert enc1.individual.code == "cat01" and enc1.images.count() == 2
    assert enc1.location.name == "Pamir" and enc1.location.time_zone == "Asia/Dushanbe"
    assert enc1.observed_at.isoformat() == "2012-05-13T01:14:04+00:00"  # Dushanbe is UTC+5
    boxed = enc1.images.get(original_filename="f0.jpg")
    assert boxed.box == (10, 10, 50, 40) and boxed.box_source == BoxSource.IMPORT
    assert sightings.get(external_id="import:pamir:enc3").point == (38.1, 73.9)
    assert len(no_enqueue) == 3 and all(k == {"cluster": "bulk"} for _, k in no_enqueue)


@pytest.mark.django_db
def test_import_catalog_rerun_skips_duplicates(tmp_path, org_a, no_enqueue, media_root):
    folder = _labelled_folder(tmp_path / "pamir")
    call_command("import_catalog", str(folder), "--organization", org_a.slug, stdout=io.StringIO())
    files = _media_files(media_root)
    out = io.StringIO()
    call_command("import_catalog", str(folder), "--organization", org_a.slug, stdout=out)
    assert "0 new sightings, 0 photos, 0 new individuals; 4 duplicates skipped" in out.getvalue()
    assert Sighting.objects.count() == 3 and _media_files(media_root) == files


@pytest.mark.django_db
def test_import_catalog_refuses_bad_rows_and_imports_nothing(tmp_path, org_a, no_enqueue, media_root):
    folder = _labelled_folder(tmp_path / "pamir")
    (folder / "images" / "cat03").mkdir()
    (folder / "images" / "cat03" / "broken.jpg").write_bytes(b"not a jpeg")
    bad = ("images/cat03/missing.jpg,cat03,,enc9,,,,,,,,\n"
           "images/cat03/broken.jpg,cat03,,enc8,,2012-01-01T00:00:00,,,,,,\n"
           "images/cat02/f3.jpg,cat02,wing,enc7,,,,,,,,\n"
           "../outside.jpg,cat02,,enc6,,,,,,,,\n")
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text() + bad)
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalog", str(folder), "--organization", org_a.slug, stdout=io.StringIO(), stderr=err)
    report = err.getvalue()
    assert "row 6: images/cat03/missing.jpg: file “images/cat03/missing.jpg” does not exist" in report
    assert "row 7: images/cat03/broken.jpg:" in report and "not an image" in report
    assert "row 8:" in report and "unknown body part “wing”" in report
    assert "row 9:" in report and "leaves the import folder" in report
    assert not Sighting.objects.exists() and not Individual.objects.exists()
    assert _media_files(media_root) == []


@pytest.mark.django_db
def test_import_catalog_skip_bad_imports_the_good_rows(tmp_path, org_a, no_enqueue):
    folder = _labelled_folder(tmp_path / "pamir", extra_rows="images/cat09/nope.jpg,cat09,,enc9,,,,,,,,\n")
    err = io.StringIO()
    call_command("import_catalog", str(folder), "--organization", org_a.slug, "--skip-bad", stdout=io.StringIO(), stderr=err)
    assert "row 6" in err.getvalue()
    assert Sighting.objects.count() == 3


@pytest.mark.django_db
def test_import_catalog_reads_nested_folders(tmp_path, org_a, no_enqueue):
    from PIL import ExifTags, Image

    root = tmp_path / "seed"
    _write_photo(root / "Sarychat" / "SL-0001" / "left_flank" / "a.jpg", seed=11)
    path = root / "Sarychat" / "SL-0001" / "right" / "b.jpg"
    _write_photo(path, seed=12)
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2021:02:03 04:05:06"
    for p in (root / "Sarychat" / "SL-0001" / "left_flank" / "a.jpg", path):
        Image.open(p).save(p, exif=exif.tobytes())
    out = io.StringIO()
    call_command("import_catalog", str(root), "--organization", org_a.slug, stdout=out)
    assert "2 new sightings, 2 photos, 1 new individuals (SL-0001)" in out.getvalue()
    assert sorted(Sighting.objects.values_list("images__body_part", flat=True)) == ["left_flank", "right_flank"]
    assert Location.objects.filter(name="Sarychat").exists()


@pytest.mark.django_db
def test_import_catalog_refuses_a_photo_without_any_date(tmp_path, org_a, no_enqueue):
    _write_photo(tmp_path / "seed" / "Naryn" / "cat" / "head" / "x.jpg", seed=1)
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_catalog", str(tmp_path / "seed"), "--organization", org_a.slug, stdout=io.StringIO(), stderr=err)
    assert "no date-time" in err.getvalue()


@pytest.mark.django_db
def test_import_catalog_names_the_unknown_organisation(tmp_path, org_a):
    with pytest.raises(CommandError, match="slt-kg"):
        call_command("import_catalog", str(tmp_path), "--organization", "nope")


@pytest.mark.devdata
@pytest.mark.django_db
def test_import_catalog_reads_a_few_rows_of_the_real_snow_leopard_set(tmp_path, org_a, no_enqueue):
    source = REID_DEV / "snowleopard"
    if not (source / "labels.csv").is_file():
        pytest.skip(f"reid-dev snow leopard set not present at {source}")
    lines = (source / "labels.csv").read_text().splitlines()
    folder = tmp_path / "snowleopard"
    folder.mkdir()
    # Symlinks to a handful of images: nothing is copied, and the importer follows them.
    rows = lines[1:4] + [line for line in lines[1:] if line.split(",")[1] == "cat08"][:2]
    for row in rows:
        rel = row.split(",", 1)[0]
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).symlink_to(source / rel)
    (folder / "labels.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    out = io.StringIO()
    call_command("import_catalog", str(folder), "--organization", org_a.slug, "--time-zone", "Asia/Dushanbe", stdout=out)
    assert "5 photos" in out.getvalue()
    # The set's first three rows and two cat08 rows (which cats those are depends on the split).
    assert set(Individual.objects.values_list("code", flat=True)) == {row.split(",")[1] for row in rows}
    assert Location.objects.filter(name="Murghab_Concession").exists() or Location.objects.count() == 1


@pytest.mark.django_db
def test_import_catalog_default_date_places_undated_photos(tmp_path, org_a, no_enqueue):
    _write_photo(tmp_path / "seed" / "Naryn" / "cat" / "head" / "x.jpg", seed=1)
    call_command("import_catalog", str(tmp_path / "seed"), "--organization", org_a.slug, "--default-date", "2020-01-02",
                 stdout=io.StringIO())
    assert Sighting.objects.get().observed_at.isoformat() == "2020-01-02T00:00:00+00:00"


@pytest.mark.django_db
def test_import_catalog_nested_folders_without_body_part_and_stray_files(tmp_path, org_a, no_enqueue):
    _write_photo(tmp_path / "seed" / "Naryn" / "SL-0002" / "x.jpg", seed=3)
    _write_photo(tmp_path / "seed" / "stray.jpg", seed=4)
    err = io.StringIO()
    call_command("import_catalog", str(tmp_path / "seed"), "--organization", org_a.slug, "--default-date", "2020-01-02",
                 "--skip-bad", stdout=io.StringIO(), stderr=err)
    assert "stray.jpg: expected <location>/<individual>/<body_part>/<file>" in err.getvalue()
    assert list(Sighting.objects.values_list("images__body_part", flat=True)) == ["unknown"]


@pytest.mark.django_db
def test_import_catalog_returns_a_withdrawn_individual_to_the_catalog(tmp_path, org_a, no_enqueue, media_root):
    from catalog.models import Individual, IndividualStatus

    withdrawn = Individual.objects.create(code="cat01", status=IndividualStatus.WITHDRAWN)
    call_command("import_catalog", str(_labelled_folder(tmp_path / "pamir")), "--organization", org_a.slug,
                 stdout=io.StringIO())
    withdrawn.refresh_from_db()
    assert withdrawn.status == IndividualStatus.ACTIVE and withdrawn.sightings.count() == 1
