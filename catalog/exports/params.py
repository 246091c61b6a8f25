"""The query every science page and export endpoint shares: area, period, occasions, detector."""

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.exports.common import ExportScope
from catalog.exports.secr import DETECTORS
from catalog.models import Location


class ScienceQueryForm(forms.Form):
    location = forms.ModelChoiceField(queryset=Location.objects.all(), required=False, label=_("Study area"))
    start = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    occasion_days = forms.IntegerField(
        min_value=1, max_value=366, required=False, initial=7, label=_("Occasion length (days)")
    )
    media = forms.ChoiceField(
        choices=[("1", _("with images")), ("0", _("without images"))], required=False, initial="1",
        label=_("Camtrap DP images"),
    )
    detector = forms.ChoiceField(
        choices=[(d, d) for d in DETECTORS], required=False, initial="proximity", label=_("SECR detector type")
    )

    def __init__(self, *args, need_period: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.need_period = need_period

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("The period ends before it starts."))
        if self.need_period:
            missing = [f for f in ("location", "start", "end") if not data.get(f)]
            for name in missing:
                self.add_error(name, _("Needed for capture histories and abundance."))
            if start and end and (end - start).days > 3 * 366:
                raise forms.ValidationError(_("Choose a period of at most three years (closed-population models)."))
        data["occasion_days"] = data.get("occasion_days") or 7
        data["detector"] = data.get("detector") or "proximity"
        data["media"] = data.get("media") != "0"
        return data

    @staticmethod
    def empty_scope() -> ExportScope:
        return ExportScope()

    def scope(self) -> ExportScope:
        data = self.cleaned_data
        return ExportScope(location=data.get("location"), start=data.get("start"), end=data.get("end"))


class PopulationForm(ScienceQueryForm):
    """Area, period and occasion length only: the export-only fields are left out."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, need_period=True, **kwargs)
        del self.fields["media"]
        del self.fields["detector"]
