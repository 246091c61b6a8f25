"""Forms of the identification pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import BodyPart
from matching.models import RunMode


class RunFiltersForm(forms.Form):
    locations = forms.ModelMultipleChoiceField(queryset=None, required=False, label=_("Compare with study areas"),
                                               help_text=_("None selected: the whole catalog."),
                                               widget=forms.CheckboxSelectMultiple)
    body_parts = forms.MultipleChoiceField(choices=BodyPart.choices, required=False, label=_("Body parts"),
                                           help_text=_("None selected: all body parts."),
                                           widget=forms.CheckboxSelectMultiple)
    mode = forms.ChoiceField(
        choices=RunMode.choices, label=_("Mode"), widget=forms.RadioSelect, required=False,
        help_text=_("Accurate compares every photo with the best reference photos of the most likely individuals "
                    "and combines the evidence of the whole sighting (about half a minute). Fast checks a few "
                    "shortlisted photos per image (a few seconds) and is less often right."),
    )
    extractor = forms.ChoiceField(
        choices=(), label=_("Feature extractor (fast mode)"),
        help_text=_("xfeat: fastest; aliked and disk: learned features, slower; sift: classic, no network. "
                    "Accurate mode always uses aliked."),
    )

    location_prior = forms.BooleanField(
        required=False, label=_("Also rank by where each cat has been seen"),
        help_text=_("Cats already recorded at this sighting's camera station (or, less, in its study area) "
                    "move up the list, unless the photos clearly show another cat. The results page shows "
                    "how often each candidate was seen there. Off: the photos alone order the candidates."),
    )

    def __init__(self, *args, locations=None, extractors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["locations"].queryset = locations
        self.fields["extractor"].choices = extractors
