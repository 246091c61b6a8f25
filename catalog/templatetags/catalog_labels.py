"""Labels for stored codes, so that pages never show a raw `left_flank` or lookup key."""

from django import template

from catalog.models import BodyPart

register = template.Library()


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template (None when missing)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def body_part_labels(values) -> str:
    """["left_flank", "head"] -> "Left flank, Head" in the current language."""
    labels = dict(BodyPart.choices)
    return ", ".join(str(labels.get(v, v)) for v in values or [])
