"""Load the synthetic demo catalog (idempotent: a second run reuses what exists)."""

import io
import os
import secrets
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max, Min
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from catalog import demo
from catalog.models import (
    CameraStation, Individual, Location, Membership, Organization, Role, Sighting, SightingImage, SightingStatus,
)
from catalog.services import image_add, sighting_create

DEMO_ADMIN = "demo-admin"
DEMO_PARTNER = "demo-partner"
# Fixed passwords only where the site runs for development; anywhere else they come from the
# environment or are generated and printed once.
DEV_PASSWORDS = {DEMO_ADMIN: "demo-admin-pw", DEMO_PARTNER: "demo-partner-pw"}
PASSWORD_ENV = {DEMO_ADMIN: "DEMO_ADMIN_PASSWORD", DEMO_PARTNER: "DEMO_PARTNER_PASSWORD"}


def _parse_size(value: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise CommandError("--size must look like 1280x720") from None
    return (w, h)


class Command(BaseCommand):
    help = "Load the synthetic demo catalog, a demo site admin and a demo partner (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--individuals", type=int, default=12, help="number of demo individuals (default 12)")
        parser.add_argument("--size", type=_parse_size, default=(1280, 720), help="photo size WxH (default 1280x720)")
        parser.add_argument("--no-index", action="store_true", help="do not enqueue feature extraction")

    def handle(self, *args, individuals: int, size: tuple[int, int], no_index: bool, **options):
        started = time.monotonic()
        orgs = self._organizations()
        locations, stations = self._locations(orgs)
        logins = self._users(orgs)
        created_sightings = created_images = 0
        for item in demo.demo_sightings(individuals):
            made, images = self._sighting(item, orgs, locations, stations, size, index=not no_index)
            created_sightings += made
            created_images += images
        self._seen_dates()
        if created_sightings and not no_index:
            self._fast_features()
        self.stdout.write(
            f"Demo catalog: {Individual.objects.filter(is_demo=True).count()} synthetic individuals, "
            f"{Sighting.objects.filter(organization__is_demo=True).count()} sightings "
            f"({created_sightings} new, {created_images} new photos) in {time.monotonic() - started:.1f} s."
        )
        if created_sightings and not no_index:
            self.stdout.write("The accurate mode's features of the reference photos are queued on the bulk cluster.")
        for username, password, role in logins:
            self.stdout.write(f"  {role}: username {username}  password {password}")

    def _organizations(self) -> dict[str, Organization]:
        orgs = {}
        for spec in demo.DEMO_ORGANIZATIONS:
            org, _ = Organization.objects.get_or_create(
                slug=spec.slug, defaults={"name": spec.name, "country": spec.country, "is_demo": True}
            )
            orgs[spec.slug] = org
        return orgs

    def _locations(self, orgs):
        locations, stations = [], []
        for index, spec in enumerate(demo.DEMO_LOCATIONS):
            location, _ = Location.objects.get_or_create(
                name=spec.name,
                defaults={"country": spec.country, "time_zone": spec.time_zone, "latitude": spec.latitude,
                          "longitude": spec.longitude},
            )
            locations.append(location)
            row = []
            for code, lat, lon in demo.station_points(index):
                station, _ = CameraStation.objects.get_or_create(
                    location=location, code=code,
                    defaults={"latitude": lat, "longitude": lon, "organization": orgs[spec.org_slug],
                              "operating_from": demo.SURVEY_START, "operating_to": demo.SURVEY_END},
                )
                row.append(station)
            stations.append(row)
        return locations, stations

    def _password(self, username: str, user: User, created: bool) -> str:
        from_env = os.environ.get(PASSWORD_ENV[username])
        if from_env:
            password = from_env
        elif settings.DEBUG or settings.TESTING:
            password = DEV_PASSWORDS[username]
        elif created:
            password = secrets.token_urlsafe(12)
        else:
            return "(unchanged; set %s to reset it)" % PASSWORD_ENV[username]
        user.set_password(password)
        user.save(update_fields=["password"])
        return password

    def _users(self, orgs):
        admin, created = User.objects.get_or_create(
            username=DEMO_ADMIN, defaults={"is_staff": True, "is_superuser": True, "email": "demo-admin@example.org"}
        )
        admin_pw = self._password(DEMO_ADMIN, admin, created)
        partner, created = User.objects.get_or_create(
            username=DEMO_PARTNER, defaults={"first_name": "Demo", "last_name": "Partner", "email": "partner@example.org"}
        )
        partner_pw = self._password(DEMO_PARTNER, partner, created)
        # Reviewer includes contributor: the partner submits and reviews in the Naryn team.
        Membership.objects.update_or_create(
            user=partner, organization=orgs[demo.DEMO_ORGANIZATIONS[0].slug], defaults={"role": Role.REVIEWER}
        )
        return [
            (DEMO_ADMIN, admin_pw, "site admin (Django admin at /admin/)"),
            (DEMO_PARTNER, partner_pw, f"partner (reviewer of {orgs[demo.DEMO_ORGANIZATIONS[0].slug].name})"),
        ]

    def _individual(self, number: int) -> Individual:
        rng_names = demo.DEMO_NAMES
        individual, _ = Individual.objects.get_or_create(
            code=f"DEMO-{number:02d}",
            defaults={
                "name": rng_names[(number - 1) % len(rng_names)],
                "sex": ("female", "male", "unknown")[number % 3],
                "is_demo": True,
                "notes": "Synthetic demo individual: a procedurally drawn coat, not a real snow leopard.",
            },
        )
        return individual

    def _sighting(self, item: demo.DemoSighting, orgs, locations, stations, size, *, index: bool) -> tuple[int, int]:
        if Sighting.objects.filter(external_id=item.key).exists():
            return (0, 0)
        spec = demo.DEMO_LOCATIONS[item.location_index]
        organization = orgs[spec.org_slug]
        station = stations[item.location_index][item.station_index]
        partner = User.objects.filter(username=DEMO_PARTNER).first()
        with transaction.atomic():
            sighting = sighting_create(
                organization=organization,
                submitted_by=partner if organization.slug == demo.DEMO_ORGANIZATIONS[0].slug else None,
                observed_at=item.observed_at,
                station=station,
                notes="Synthetic demo sighting.",
                external_id=item.key,
            )
            for photo in item.photos:
                image = demo.render_photo(item.individual, photo.variant, photo.body_part, size,
                                          label=station.code, when=item.observed_at)
                buf = io.BytesIO()
                image.save(buf, "JPEG", quality=90)
                upload = SimpleUploadedFile(f"{station.code}_{item.key.replace(':', '_')}_{photo.variant}.jpg",
                                            buf.getvalue(), content_type="image/jpeg")
                image_add(sighting=sighting, file=upload, body_part=photo.body_part, added_by=None)
            if item.identified:
                sighting.individual = self._individual(item.individual)
                sighting.status = SightingStatus.IDENTIFIED
                sighting.save(update_fields=["individual", "status", "updated_at"])
                if index:
                    # A dotted path keeps catalog free of matching imports; the bulk cluster
                    # extracts the reference features so identification is fast afterwards.
                    transaction.on_commit(
                        lambda pk=sighting.pk: async_task("matching.tasks.index_sighting", pk, cluster=settings.QUEUE_BULK)
                    )
        return (1, len(item.photos))

    def _fast_features(self) -> None:
        """The default (fast) extractor's features of the demo catalog, here and now: the first
        identification after `make run` then compares with the whole catalog, where the bulk queue
        (which also runs the slower accurate-mode extractor) could still be half-way through it."""
        started = time.monotonic()
        # A dotted path keeps catalog free of matching imports.
        features_extract = import_string("matching.services.features_extract")
        images = SightingImage.objects.filter(sighting__organization__is_demo=True,
                                              sighting__status=SightingStatus.IDENTIFIED)
        for image in images:
            features_extract(image=image, extractor=settings.MATCHING_DEFAULT_EXTRACTOR)
        self.stdout.write(f"Fast-mode features of {images.count()} reference photos in {time.monotonic() - started:.1f} s.")

    def _seen_dates(self) -> None:
        for individual in Individual.objects.filter(is_demo=True):
            dates = individual.sightings.filter(status__in=[SightingStatus.IDENTIFIED, SightingStatus.NEW_INDIVIDUAL]).aggregate(
                first=Min("observed_at"), last=Max("observed_at"))
            if (individual.first_seen, individual.last_seen) != (dates["first"], dates["last"]):
                individual.first_seen, individual.last_seen = dates["first"], dates["last"]
                individual.save(update_fields=["first_seen", "last_seen"])
