"""Forms of the identification pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import BodyPart


class RunFiltersForm(forms.Form):
    locations = forms.ModelMultipleChoiceField(queryset=None, required=False, label=_("Compare with study areas"),
                                               help_text=_("None selected: the whole catalog."),
                                               widget=forms.CheckboxSelectMultiple)
    body_parts = forms.MultipleChoiceField(choices=BodyPart.choices, required=False, label=_("Body parts"),
                                           help_text=_("None selected: all body parts."),
                                           widget=forms.CheckboxSelectMultiple)
    extractor = forms.ChoiceField(choices=(), label=_("Feature extractor"))

    def __init__(self, *args, locations=None, extractors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["locations"].queryset = locations
        self.fields["extractor"].choices = extractors
