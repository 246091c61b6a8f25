"""Filters and path parameters out of range answer 400 or 404, never 500 (SQLite raises OverflowError
for integers past 64 bits; PostgreSQL for those past the column's type)."""

import pytest

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"
VALUES = [HUGE, "-" + HUGE, "9223372036854775808", "2147483648", "1e400", "nan", "inf", "0x10", "-1", "abc", "1.5"]

LIST_FILTERS = {
    "/api/sightings/": ["organization", "location", "station", "individual", "status", "observed_after", "page"],
    "/api/runs/": ["sighting", "state", "page"],
    "/api/stations/": ["location", "organization", "page"],
    "/api/images/": ["sighting", "page"],
    "/api/individuals/": ["sex", "page"],
    "/api/decisions/": ["sighting", "user", "page"],
    "/api/imports/": ["organization", "page"],
    "/api/locations/": ["page"],
}
DETAIL_ROUTES = [
    "/api/sightings/{}/", "/api/runs/{}/", "/api/runs/{}/candidates/", "/api/stations/{}/", "/api/images/{}/",
    "/api/images/{}/file/", "/api/individuals/{}/", "/api/decisions/{}/", "/api/imports/{}/", "/api/locations/{}/",
    "/api/organizations/{}/", "/api/sightings/{}/runs/", "/api/sightings/{}/images/",
]


@pytest.mark.parametrize("value", VALUES)
def test_list_filters_out_of_range_answer_a_client_error_or_an_empty_list(world, api, alice, value):
    client = api(alice)
    for url, params in LIST_FILTERS.items():
        for param in params:
            response = client.get(url, {param: value})
            assert response.status_code in (200, 400, 404), (url, param, value, response.status_code)
            if response.status_code == 200 and param != "page":
                assert response.json().get("count", 0) == 0 or value in ("-1", "1.5"), (url, param, value)


@pytest.mark.parametrize("value", [HUGE, "9223372036854775808", "2147483648", "-" + HUGE])
def test_path_ids_out_of_range_answer_404(world, api, alice, value):
    client = api(alice)
    for route in DETAIL_ROUTES:
        response = client.get(route.format(value))
        assert response.status_code == 404, (route, value, response.status_code)


def test_post_to_a_huge_id_answers_404_not_500(world, api, alice):
    client = api(alice)
    for route in ("/api/sightings/{}/identify/", "/api/sightings/{}/review/"):
        response = client.post(route.format(HUGE), {}, format="json")
        assert response.status_code == 404, (route, response.status_code)


def _int_routes():
    """Every URL pattern of the site with an <int:...> part, the parts filled by `value`."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from django.urls.converters import IntConverter

    def walk(patterns, prefix=""):
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + route)
            elif isinstance(p, URLPattern) and any(isinstance(c, IntConverter) for c in p.pattern.converters.values()):
                yield prefix + route

    return sorted(set(walk(get_resolver().url_patterns)))


@pytest.mark.parametrize("value", [HUGE, "9223372036854775808"])
def test_every_int_url_of_the_site_answers_a_huge_id_without_a_server_error(world, client, alice, value):
    import re

    client.force_login(alice)
    routes = _int_routes()
    assert len(routes) > 10
    for route in routes:
        url = "/" + re.sub(r"<int:\w+>", value, route).lstrip("^").rstrip("$")
        url = re.sub(r"<(?:str:|slug:)?\w+>", "x", url)
        response = client.get(url)
        assert response.status_code in (302, 400, 403, 404, 405), (url, response.status_code)
