"""`{% csp_leaflet_map "name" %}`: django-leaflet's map container without its inline script.

django-leaflet's own `{% leaflet_map %}` writes an inline <script> that starts the map, which the
Content-Security-Policy forbids. This tag renders the same container and the same map options
(computed by django-leaflet, so LEAFLET_CONFIG keeps working) as JSON data; static/js/leaflet-init.js
starts the map from them.
"""

import json

from django import template
from leaflet.templatetags import leaflet_tags

register = template.Library()


@register.inclusion_tag("leaflet/csp_map.html")
def csp_leaflet_map(name: str) -> dict:
    options = leaflet_tags.leaflet_map(name)
    return {"name": name, "options_id": f"{name}-options", "djoptions": json.loads(options["djoptions"])}
