"""Forms of the study-area and camera-station set-up pages (org admins)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from catalog.local_time import zone_choices
from catalog.models import LATITUDE_VALIDATORS, LONGITUDE_VALIDATORS
from catalog.study_areas import periods_check


class LocationForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=None, label=_("Organisation"), empty_label=None)
    name = forms.CharField(max_length=200, label=_("Name"))
    country = forms.CharField(max_length=100, required=False, label=_("Country"))
    time_zone = forms.ChoiceField(
        choices=(), initial="UTC", label=_("Time zone"),
        help_text=_("Camera clocks and every date-time of the area's sightings are read and shown in this zone."),
    )
    boundary_geojson = forms.CharField(
        required=False, label=_("Boundary (GeoJSON)"), widget=forms.Textarea(attrs={"rows": 3, "class": "geojson"}),
        help_text=_("Click the map to draw the boundary corner by corner, or paste a GeoJSON polygon."),
    )

    def __init__(self, *args, organizations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        self.fields["time_zone"].choices = zone_choices()


class StationForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=None, label=_("Organisation"), empty_label=None)
    location = forms.ModelChoiceField(queryset=None, label=_("Study area"), empty_label=None)
    code = forms.CharField(max_length=100, label=_("Code"))
    latitude = forms.FloatField(validators=LATITUDE_VALIDATORS, label=_("Latitude"),
                                widget=forms.NumberInput(attrs={"step": "any"}))
    longitude = forms.FloatField(validators=LONGITUDE_VALIDATORS, label=_("Longitude"),
                                 widget=forms.NumberInput(attrs={"step": "any"}))

    def __init__(self, *args, organizations=None, locations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        self.fields["location"].queryset = locations


class OperatingPeriodForm(forms.Form):
    start = forms.DateField(label=_("Operating from"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label=_("Operating to"), widget=forms.DateInput(attrs={"type": "date"}),
                          help_text=_("Empty while it still operates."))
    note = forms.CharField(required=False, max_length=200, label=_("Note"))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", _("The station stops operating before it starts."))
        return data


class BaseOperatingPeriodFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        try:
            periods_check(self.periods())
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None

    def periods(self) -> list[tuple]:
        """(start, end, note) of each filled-in period not marked for deletion."""
        return [
            (form.cleaned_data["start"], form.cleaned_data.get("end"), form.cleaned_data.get("note", ""))
            for form in self.forms
            if form.cleaned_data and form.cleaned_data.get("start") and not form.cleaned_data.get("DELETE")
        ]


# Two blank rows under the saved ones: a new period is added without any script (the page
# reloads with two more after a save); a row is removed by its "Delete" box.
OperatingPeriodFormSet = forms.formset_factory(
    OperatingPeriodForm, formset=BaseOperatingPeriodFormSet, extra=2, can_delete=True, max_num=200, validate_max=True,
)
