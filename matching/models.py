from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import Individual, Sighting, SightingImage


def feature_file_path(instance: "FeatureSet", filename: str) -> str:
    return f"features/{instance.extractor}-{instance.version}/{instance.image.uuid}.npz"


class FeatureSet(models.Model):
    """Cached local features of one image for one extractor version (arrays in an .npz in storage)."""

    image = models.ForeignKey(SightingImage, on_delete=models.CASCADE, related_name="feature_sets")
    extractor = models.CharField(max_length=32)
    version = models.CharField(max_length=32)
    file = models.FileField(upload_to=feature_file_path)
    num_keypoints = models.PositiveIntegerField(default=0)
    # The preprocessing inputs the features depend on; a change makes the cache stale.
    box = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "extractor", "version"], name="featureset_unique_image_extractor_version")
        ]

    def __str__(self) -> str:
        return f"{self.extractor}@{self.version} image {self.image_id} ({self.num_keypoints} kp)"


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    EXTRACTING = "extracting", _("Extracting features")
    MATCHING = "matching", _("Matching")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Confidence(models.TextChoices):
    EXCELLENT = "excellent", _("Excellent")
    GOOD = "good", _("Good")
    FAIR = "fair", _("Fair")
    UNCERTAIN = "uncertain", _("Uncertain")


class RunMode(models.TextChoices):
    # What each mode does and costs: matching/engine/accurate.py and docs/benchmarks.md.
    FAST = "fast", _("Fast")
    ACCURATE = "accurate", _("Accurate")


class MatchRun(models.Model):
    """One identification of a sighting's images against the catalog."""

    sighting = models.ForeignKey(Sighting, on_delete=models.CASCADE, related_name="match_runs")
    mode = models.CharField(max_length=10, choices=RunMode.choices, default=RunMode.FAST)
    extractor = models.CharField(max_length=32)
    # {"locations": [ids] or [], "body_parts": [...] or []}; empty lists mean "all".
    filters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=RunState.choices, default=RunState.QUEUED, db_index=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Written by the worker while it works (matching.runs); a long silence means it died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    likely_new = models.BooleanField(default=False)
    top_score = models.FloatField(null=True, blank=True)
    calibration_version = models.CharField(max_length=32, blank=True)
    # Catalog images left out because the bulk queue had not extracted their features yet.
    references_pending = models.PositiveIntegerField(default=0)
    # Query photos whose box was only suggested (detector, burst motion) when the run started:
    # the results page says so, since nobody checked the animal is inside them.
    unconfirmed_boxes = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"run {self.pk} of sighting {self.sighting_id} ({self.state})"


class MatchCandidate(models.Model):
    """A ranked candidate individual of a run, with its best verified image pair."""

    run = models.ForeignKey(MatchRun, on_delete=models.CASCADE, related_name="candidates")
    individual = models.ForeignKey(Individual, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    confidence = models.CharField(max_length=10, choices=Confidence.choices)
    num_inliers = models.PositiveIntegerField(default=0)
    body_parts = models.JSONField(default=list, blank=True)
    query_image = models.ForeignKey(SightingImage, on_delete=models.CASCADE, related_name="+", null=True)
    reference_image = models.ForeignKey(SightingImage, on_delete=models.CASCADE, related_name="+", null=True)
    # Verified correspondences of the best pair, [[xq, yq, xr, yr], ...] in original-image pixels.
    matches = models.JSONField(default=list, blank=True)
    # The location prior (matching/engine/prior.py) when the run used it: P(individual | station),
    # and the individual's distinct catalog sightings at the sighting's station.
    prior = models.FloatField(null=True, blank=True)
    station_sightings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "rank"]
        constraints = [models.UniqueConstraint(fields=["run", "rank"], name="candidate_unique_rank")]

    def __str__(self) -> str:
        return f"#{self.rank} {self.individual} {self.score:.2f} ({self.confidence})"
