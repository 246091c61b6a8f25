"""Forms of the submission journey. Date-times are local time of the place (camera clocks)."""

from datetime import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import BodyPart, LATITUDE_VALIDATORS, LONGITUDE_VALIDATORS


class LocalDateTimeField(forms.CharField):
    """A naive date-time from <input type=datetime-local>; the service reads it in the place's zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
        except ValueError:
            raise forms.ValidationError(_("Enter a date and time like 2024-03-01 14:30.")) from None
        return parsed.replace(tzinfo=None)


class PlaceFields(forms.Form):
    location = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Study area"),
        help_text=_("Its time zone is the one the date and time are read in; a station sets it."),
    )
    station = forms.ModelChoiceField(queryset=None, required=False, label=_("Camera station"))
    latitude = forms.FloatField(required=False, validators=LATITUDE_VALIDATORS, label=_("Latitude"),
                                widget=forms.NumberInput(attrs={"step": "any"}))
    longitude = forms.FloatField(required=False, validators=LONGITUDE_VALIDATORS, label=_("Longitude"),
                                 widget=forms.NumberInput(attrs={"step": "any"}))
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Notes"))

    def __init__(self, *args, stations=None, locations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations
        self.fields["location"].queryset = locations

    def clean(self):
        data = super().clean()
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise forms.ValidationError(_("Give both latitude and longitude, or neither."))
        station, location = data.get("station"), data.get("location")
        if station is not None and location is not None and station.location_id != location.pk:
            self.add_error("station", _("The station is not in the chosen study area."))
        return data


class SubmitForm(PlaceFields):
    organization = forms.ModelChoiceField(queryset=None, label=_("Organisation"), empty_label=None)
    observed_at = LocalDateTimeField(required=False, label=_("Date and time"),
                                     help_text=_("Leave empty to use the photos' EXIF time."))
    body_part = forms.ChoiceField(choices=BodyPart.choices, initial=BodyPart.UNKNOWN, label=_("Body part"),
                                  help_text=_("For all photos; you can change it per photo on the next page."))
    field_order = ["organization", "observed_at", "body_part", "location", "station", "latitude", "longitude", "notes"]

    def __init__(self, *args, organizations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations


class DetailsForm(PlaceFields):
    observed_at = LocalDateTimeField(required=True, label=_("Date and time (local time of the place)"))
    field_order = ["observed_at", "location", "station", "latitude", "longitude", "notes"]
