from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from matching.models import FeatureSet, MatchCandidate, MatchRun, RunState
from matching.runs import match_run_retry, run_is_stale


class MatchCandidateInline(admin.TabularInline):
    model = MatchCandidate
    fields = ("rank", "individual", "score", "confidence", "num_inliers", "body_parts")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.action(description=_("Retry the selected failed or stuck identifications"))
def retry_runs(modeladmin, request, queryset):
    started, refused = 0, []
    for run in queryset.select_related("sighting"):
        if run.state != RunState.FAILED and not run_is_stale(run):
            refused.append(str(run))
            continue
        try:
            match_run_retry(run=run, requested_by=request.user)
            started += 1
        except ValidationError as exc:
            refused.append(f"{run}: {' '.join(exc.messages)}")
    if started:
        modeladmin.message_user(request, ngettext("%d identification restarted.", "%d identifications restarted.", started) % started)
    if refused:
        modeladmin.message_user(request, _("Not retried: %s") % "; ".join(refused), level=messages.WARNING)


@admin.register(MatchRun)
class MatchRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "sighting", "state", "progress_done", "progress_total", "attempts", "extractor", "created_at", "error")
    list_filter = ("state", "extractor")
    search_fields = ("error", "sighting__organization__name")
    readonly_fields = ("sighting", "extractor", "filters", "state", "progress_done", "progress_total", "error", "attempts",
                       "likely_new", "top_score", "calibration_version", "requested_by", "created_at", "started_at",
                       "finished_at")
    actions = [retry_runs]
    inlines = [MatchCandidateInline]
    date_hierarchy = "created_at"


@admin.register(FeatureSet)
class FeatureSetAdmin(admin.ModelAdmin):
    list_display = ("image", "extractor", "version", "num_keypoints", "created_at")
    list_filter = ("extractor", "version")
    readonly_fields = ("image", "extractor", "version", "file", "num_keypoints", "box", "created_at")
