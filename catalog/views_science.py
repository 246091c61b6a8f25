"""Science pages: exports, bulk imports (with progress) and the population page."""

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django import forms

from catalog.exports.csv_safe import SafeWriter
from catalog.exports.params import PopulationForm, ScienceQueryForm
from catalog.exports.left_out import left_out_counts, left_out_for, reason_texts
from catalog.exports.population import population_for
from catalog.exports.responses import FORMATS, PERIOD_FORMATS, export_response
from catalog.imports.jobs import import_job_start
from catalog.models import ImportJob, ImportKind, ImportState, Location, Role
from catalog.selectors import organizations_for
from catalog.study_areas import setup_locations_for


@login_required
def exports(request: HttpRequest) -> HttpResponse:
    form = ScienceQueryForm(request.GET or None)
    scope = form.scope() if form.is_bound and form.is_valid() else ScienceQueryForm.empty_scope()
    # Said before the download, per format: the files and their headers say it again.
    counts = left_out_counts(request.user, scope)
    texts = reason_texts()
    left_out = {
        fmt: [(n, texts[reason]) for reason, n in left_out_for(fmt, counts).items()] for fmt in FORMATS
    }
    return render(request, "catalog/exports.html", {
        "form": form, "formats": FORMATS, "query": request.GET.urlencode(), "left_out": left_out,
    })


@login_required
def export_download(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in FORMATS:
        return render(request, "catalog/exports.html", {"form": ScienceQueryForm(), "formats": FORMATS}, status=404)
    form = ScienceQueryForm(request.GET, need_period=fmt in PERIOD_FORMATS)
    if not form.is_valid():
        return render(request, "catalog/exports.html", {"form": form, "formats": FORMATS, "query": request.GET.urlencode()}, status=400)
    data = form.cleaned_data
    return export_response(
        request.user, fmt, form.scope(), occasion_days=data["occasion_days"], detector=data["detector"], media=data["media"]
    )


@login_required
def population(request: HttpRequest) -> HttpResponse:
    form = PopulationForm(request.GET or None)
    result = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        result = population_for(
            request.user, location=data["location"], start=data["start"], end=data["end"], occasion_days=data["occasion_days"]
        )
    return render(request, "catalog/population.html", {"form": form, "result": result, "query": request.GET.urlencode()})


REPORT_ROWS_SHOWN = 2000
OUTCOME_LABELS = {
    "imported": gettext_lazy("imported"),
    "duplicate": gettext_lazy("duplicate, skipped"),
    "skipped": gettext_lazy("skipped"),
    "refused": gettext_lazy("refused"),
}


class ImportForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Organisation"))
    kind = forms.ChoiceField(choices=ImportKind.choices, label=gettext_lazy("What it is"))
    file = forms.FileField(label=gettext_lazy("Zip file"))
    location = forms.ModelChoiceField(
        queryset=Location.objects.all(), required=False, label=gettext_lazy("Study area"),
        help_text=gettext_lazy("Needed for a camera-trap folder; for Camtrap DP it overrides the package's areas."),
    )
    gap_minutes = forms.IntegerField(
        min_value=1, max_value=1440, initial=30, label=gettext_lazy("New sighting after a gap of (minutes)")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations_for(user, Role.CONTRIBUTOR)
        # The user's organisations' study areas and the shared ones, as on the set-up pages.
        self.fields["location"].queryset = setup_locations_for(user)


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = import_job_start(
                organization=data["organization"], started_by=request.user, kind=data["kind"], file=data["file"],
                location=data["location"], gap_minutes=data["gap_minutes"],
            )
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {None: exc.messages}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Import queued; this page shows its progress."))
            return redirect("import_detail", pk=job.pk)
    jobs = ImportJob.objects.filter(organization__in=organizations_for(request.user)).select_related("organization")[:50]
    return render(request, "catalog/exports_imports.html", {"form": form, "jobs": jobs})


@login_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.filter(organization__in=organizations_for(request.user)), pk=pk)
    running = job.state in (ImportState.QUEUED, ImportState.RUNNING)
    # Problems first; a huge report is shown in part, and downloads whole as CSV.
    ordered = sorted(job.report, key=lambda row: row.get("outcome") == "imported")
    rows = [{**row, "label": OUTCOME_LABELS.get(row.get("outcome"), row.get("outcome"))} for row in ordered[:REPORT_ROWS_SHOWN]]
    return render(
        request, "catalog/exports_import_detail.html",
        {"job": job, "running": running, "counts": job.counts(), "rows": rows,
         "truncated": len(job.report) > REPORT_ROWS_SHOWN},
    )


@login_required
def import_report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.filter(organization__in=organizations_for(request.user)), pk=pk)
    buf = io.StringIO()
    writer = SafeWriter(buf)  # file names come from the uploaded package
    writer.writerow(["file", "outcome", "reason", "sighting"])
    for row in job.report:
        writer.writerow([row.get("file"), row.get("outcome"), row.get("reason"), row.get("sighting") or ""])
    response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
    return response
