"""Django admin for site admins (staff): the whole catalog, every organisation."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from catalog.models import (
    CameraStation,
    ImportJob,
    Individual,
    Location,
    Membership,
    Organization,
    ReviewDecision,
    Sighting,
    SightingImage,
    StationOperatingPeriod,
)
from catalog.services import images_delete

admin.site.site_header = _("Snow leopard ID administration")
admin.site.site_title = _("Snow leopard ID admin")
admin.site.index_title = _("Catalog and partners")


# The strict CSP (style-src 'self') blocks style= attributes, so the thumbnail sizes are classes of
# a static style sheet, which each admin that shows thumbnails lists in its Media.
THUMBNAIL_SIZES = (120, 160, 640)  # px wide at most; css/admin.css has a class for each
ADMIN_CSS = {"all": ["css/admin.css"]}


def thumbnail(image: SightingImage | None, size: int = 160):
    if image is None or not image.file:
        return "—"
    # Through the scoped view: media is not served publicly, and staff may see every image.
    url = reverse("image_thumb", args=[image.uuid])
    return format_html('<a href="{}" target="_blank"><img src="{}?size={}" class="admin-thumb admin-thumb-{}" alt=""></a>',
                       reverse("image_file", args=[image.uuid]), url, 160, size)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "country", "is_demo", "num_members", "num_sightings", "created_at")
    list_filter = ("is_demo", "country")
    search_fields = ("name", "slug", "country")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _members=Count("memberships", distinct=True), _sightings=Count("sightings", distinct=True))

    @admin.display(description=_("members"), ordering="_members")
    def num_members(self, obj):
        return obj._members

    @admin.display(description=_("sightings"), ordering="_sightings")
    def num_sightings(self, obj):
        return obj._sightings


class UserMembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("organization",)
    verbose_name = _("organisation membership")
    verbose_name_plural = _("organisation memberships")


# Partner accounts are made here: a user and their organisations and roles on one page.
admin.site.unregister(User)


@admin.register(User)
class PartnerUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, UserMembershipInline]
    list_filter = (*UserAdmin.list_filter, "memberships__organization", "memberships__role")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    search_fields = ("user__username", "user__email", "organization__name")
    autocomplete_fields = ("user", "organization")


class CameraStationInline(admin.TabularInline):
    model = CameraStation
    extra = 0
    fields = ("code", "organization", "latitude", "longitude", "operating_from", "operating_to")


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "time_zone", "latitude", "longitude")
    list_filter = ("country", "time_zone")
    search_fields = ("name", "country")
    inlines = [CameraStationInline]


class StationOperatingPeriodInline(admin.TabularInline):
    model = StationOperatingPeriod
    extra = 0


@admin.register(CameraStation)
class CameraStationAdmin(admin.ModelAdmin):
    list_display = ("code", "location", "organization", "latitude", "longitude", "operating_from", "operating_to")
    list_filter = ("location", "organization")
    search_fields = ("code", "location__name")
    list_select_related = ("location", "organization")
    inlines = [StationOperatingPeriodInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        station = form.instance
        periods = list(station.operating_periods.order_by("start"))
        if periods:
            # The station's own dates are the span of its periods (catalog.study_areas).
            station.operating_from, station.operating_to = periods[0].start, periods[-1].end
            station.save(update_fields=["operating_from", "operating_to"])


@admin.register(Individual)
class IndividualAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "sex", "status", "is_demo", "num_sightings", "first_seen", "last_seen")
    list_filter = ("status", "sex", "is_demo")
    search_fields = ("code", "name", "notes")
    readonly_fields = ("created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_sightings=Count("sightings", distinct=True))

    @admin.display(description=_("sightings"), ordering="_sightings")
    def num_sightings(self, obj):
        return obj._sightings


class SightingImageInline(admin.TabularInline):
    """Images are added through the upload services (validation, normalisation, duplicates), not here."""

    model = SightingImage
    extra = 0
    can_delete = False  # delete on the image's own page, which removes its files too
    fields = ("preview", "body_part", "box_x", "box_y", "box_w", "box_h", "box_source", "original_filename",
              "width", "height", "exif_datetime")
    readonly_fields = ("preview", "original_filename", "width", "height", "exif_datetime")
    show_change_link = True

    class Media:
        css = ADMIN_CSS

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("image"))
    def preview(self, obj):
        return thumbnail(obj)


class ReviewDecisionInline(admin.TabularInline):
    model = ReviewDecision
    fk_name = "sighting"
    extra = 0
    fields = ("created_at", "user", "action", "previous_status", "new_status", "individual", "note")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Sighting)
class SightingAdmin(admin.ModelAdmin):
    list_display = ("preview", "observed_at", "organization", "location", "station", "status", "individual",
                    "num_images", "submitted_by")
    list_display_links = ("preview", "observed_at")
    list_filter = ("status", "organization", "location", "organization__is_demo")
    search_fields = ("uuid", "external_id", "notes", "individual__code", "individual__name", "organization__name",
                     "station__code")
    date_hierarchy = "observed_at"
    list_select_related = ("organization", "location", "station", "individual", "submitted_by")
    autocomplete_fields = ("individual", "station", "location", "submitted_by")
    readonly_fields = ("uuid", "created_at", "updated_at")
    inlines = [SightingImageInline, ReviewDecisionInline]

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_images=Count("images", distinct=True)).prefetch_related("images")

    def delete_model(self, request, obj):
        with transaction.atomic():
            images_delete(images=obj.images.all())
            obj.delete()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            images_delete(images=SightingImage.objects.filter(sighting__in=queryset))
            queryset.delete()

    @admin.display(description=_("photos"), ordering="_images")
    def num_images(self, obj):
        return obj._images

    @admin.display(description=_("image"))
    def preview(self, obj):
        images = list(obj.images.all())
        return thumbnail(images[0] if images else None, 120)


@admin.register(SightingImage)
class SightingImageAdmin(admin.ModelAdmin):
    list_display = ("preview", "sighting", "body_part", "box_source", "width", "height", "original_filename", "created_at")
    list_filter = ("body_part", "box_source", "sighting__status", "sighting__organization")
    search_fields = ("uuid", "sha256", "original_filename", "sighting__uuid", "sighting__individual__code")
    list_select_related = ("sighting", "sighting__organization")
    readonly_fields = ("preview_large", "uuid", "sighting", "file", "width", "height", "sha256", "original_filename",
                       "exif_datetime", "exif_latitude", "exif_longitude", "added_by", "created_at")
    fields = ("preview_large", "uuid", "sighting", "file", "body_part", "box_x", "box_y", "box_w", "box_h", "box_source",
              "width", "height", "sha256", "original_filename", "exif_datetime", "exif_latitude", "exif_longitude",
              "added_by", "created_at")

    class Media:
        css = ADMIN_CSS

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        images_delete(images=[obj])

    def delete_queryset(self, request, queryset):
        images_delete(images=queryset)

    @admin.display(description=_("image"))
    def preview(self, obj):
        return thumbnail(obj, 120)

    @admin.display(description=_("image"))
    def preview_large(self, obj):
        return thumbnail(obj, 640)


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    """The audit log is append-only: decisions are made and undone in the review pages."""

    list_display = ("created_at", "user", "action", "sighting", "individual", "previous_status", "new_status")
    list_filter = ("action", "new_status")
    search_fields = ("user__username", "note", "individual__code", "sighting__uuid")
    list_select_related = ("user", "sighting", "sighting__organization", "individual")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "kind", "organization", "state", "progress_done", "progress_total", "started_by", "created_at")
    list_filter = ("kind", "state", "organization")
    readonly_fields = ("organization", "started_by", "kind", "file", "location", "options", "state", "progress_done",
                       "progress_total", "report", "error", "created_at", "started_at", "finished_at")

    def has_add_permission(self, request):
        return False
