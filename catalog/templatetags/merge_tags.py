from django import template

from catalog.models import IndividualMerge, Role
from catalog.selectors import organizations_for

register = template.Library()


@register.inclusion_tag("catalog/_merge_panel.html", takes_context=True)
def merge_panel(context, individual):
    """Where a merged individual went, the merges into this one, and the way to merge another in."""
    user = context.get("user")
    merges = IndividualMerge.objects.filter(undone_at__isnull=True).select_related("source", "target")
    return {
        "individual": individual,
        "merged_away": merges.filter(source=individual).first() if individual.merged_into_id else None,
        "merged_in": list(merges.filter(target=individual)),
        "may_merge": bool(user) and individual.accepts_sightings and organizations_for(user, Role.REVIEWER).exists(),
    }
