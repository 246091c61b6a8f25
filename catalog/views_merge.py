"""Merge pages: pick the individual to merge into this one, confirm, and see or undo a merge."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog import merge as merge_services
from catalog.models import ReviewAction
from catalog.selectors import individuals_for, merges_for, sightings_for


class MergeForm(forms.Form):
    source = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Individual to merge into this one"))
    note = forms.CharField(label=gettext_lazy("Why (optional)"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, target, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = (
            individuals_for(user).filter(status__in=merge_services.MERGEABLE_STATUSES).exclude(pk=target.pk)
        )


@login_required
@require_http_methods(["GET", "POST"])
def individual_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge another individual (the source) into this one: choose, then confirm, then merge."""
    target = get_object_or_404(individuals_for(request.user), pk=pk)
    form = MergeForm(request.POST or request.GET or None, target=target, user=request.user)
    if not form.is_bound or not form.is_valid():
        return render(request, "catalog/merge_form.html", {"target": target, "form": form})
    source = form.cleaned_data["source"]
    if not merge_services.individual_can_merge(user=request.user, source=source):
        form.add_error("source", _("Only a reviewer of every organisation with a sighting of %(code)s (or a site admin) may merge it.")
                       % {"code": source.code})
        return render(request, "catalog/merge_form.html", {"target": target, "form": form}, status=403)
    if request.method != "POST" or request.POST.get("confirmed") != "yes":
        preview = merge_services.individual_merge_preview(source=source)
        return render(request, "catalog/merge_confirm.html", {
            "target": target, "source": source, "note": form.cleaned_data["note"], "preview": preview,
        })
    try:
        merge = merge_services.individual_merge(
            source=source, target=target, user=request.user, note=form.cleaned_data["note"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("individual_merge", pk=target.pk)
    messages.success(request, _("%(source)s was merged into %(target)s.") % {"source": source, "target": target})
    return redirect("merge_detail", pk=merge.pk)


@login_required
@require_GET
def merge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    merge = get_object_or_404(merges_for(request.user), pk=pk)
    moved = merge.decisions.filter(action=ReviewAction.MERGE)
    visible = sightings_for(request.user).filter(decisions__in=moved).distinct()
    return render(request, "catalog/merge_detail.html", {
        "merge": merge,
        "moved_count": moved.count(),
        "back_count": merge.decisions.filter(action=ReviewAction.UNDO).count(),
        "visible_sightings": visible,
        "can_undo": merge_services.individual_merge_can_undo(user=request.user, merge=merge),
        "confirming": request.GET.get("undo") == "1",
    })


@login_required
@require_POST
def merge_undo(request: HttpRequest, pk: int) -> HttpResponse:
    merge = get_object_or_404(merges_for(request.user), pk=pk)
    if not merge_services.individual_merge_can_undo(user=request.user, merge=merge) and merge.undone_at is None:
        raise PermissionDenied(_("Only a reviewer of every organisation with a sighting this merge moved (or a site admin) may undo it."))
    if request.POST.get("confirmed") != "yes":
        return redirect(reverse("merge_detail", args=[merge.pk]) + "?undo=1")
    try:
        back = merge_services.individual_merge_undo(merge=merge, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("merge_detail", pk=merge.pk)
    messages.success(request, _("Merge undone: %(n)d sightings moved back to %(code)s.") % {
        "n": len(back), "code": merge.source.code})
    return redirect("individual_detail", pk=merge.source_id)
