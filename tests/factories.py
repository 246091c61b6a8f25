"""factory_boy factories shared by the suite. Images are small, made by the tests."""

import io

import factory
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from catalog.models import (
    BodyPart,
    CameraStation,
    Individual,
    Location,
    Membership,
    Organization,
    Role,
    Sighting,
    SightingImage,
    SightingStatus,
)


def jpeg_bytes(width: int = 64, height: int = 48, color=(120, 110, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG")
    return buf.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.CONTRIBUTOR


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Study area {n}")
    country = "Kyrgyzstan"
    time_zone = "Asia/Bishkek"
    latitude = 41.4
    longitude = 75.9


class CameraStationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CameraStation

    location = factory.SubFactory(LocationFactory)
    code = factory.Sequence(lambda n: f"ST{n:02d}")
    latitude = factory.Sequence(lambda n: 41.30 + n * 0.013)
    longitude = factory.Sequence(lambda n: 75.80 + n * 0.017)


class IndividualFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Individual

    code = factory.Sequence(lambda n: f"SL-{n + 1:04d}")
    name = factory.Sequence(lambda n: f"Cat {n + 1}")


class SightingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sighting

    organization = factory.SubFactory(OrganizationFactory)
    observed_at = factory.LazyFunction(timezone.now)
    status = SightingStatus.SUBMITTED


class SightingImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SightingImage

    sighting = factory.SubFactory(SightingFactory)
    file = factory.LazyFunction(lambda: ContentFile(jpeg_bytes(), name="frame.jpg"))
    body_part = BodyPart.LEFT_FLANK
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
