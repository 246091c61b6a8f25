/* Set-up maps: draw a study area's boundary corner by corner, or pick a station's position.
 *
 * The boundary is written to its textarea as a GeoJSON Polygon ([lon, lat] pairs), the point to
 * the latitude/longitude inputs; both stay editable by hand. Tooltip text is set with
 * textContent, never as HTML.
 */
(function () {
  "use strict";

  function textNode(tag, text) {
    var node = document.createElement(tag);
    node.textContent = text;
    return node;
  }

  function baseMap(el) {
    var center = JSON.parse(el.dataset.center || "[40.5, 75]");
    var map = L.map(el).setView(center, 6);
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution, maxZoom: 18 }).addTo(map);
    }
    return map;
  }

  function parseRing(text) {
    try {
      var g = JSON.parse(text);
      if (g && g.type === "Polygon" && g.coordinates && g.coordinates[0]) {
        var ring = g.coordinates[0].map(function (p) { return [p[1], p[0]]; });
        if (ring.length > 1) ring.pop();  // the closing corner repeats the first
        return ring;
      }
    } catch (e) { /* not (yet) valid GeoJSON: nothing to draw */ }
    return [];
  }

  function drawStations(map, bounds) {
    var node = document.getElementById("setup-stations");
    var stations = node ? JSON.parse(node.textContent) : [];
    stations.forEach(function (s) {
      L.circleMarker([s.lat, s.lon], { radius: 6, color: "#2d5a27", fillColor: "#9ccf8f", fillOpacity: 0.9, weight: 2 })
        .bindTooltip(textNode("span", s.label)).addTo(map);
      bounds.push([s.lat, s.lon]);
    });
  }

  function fit(map, bounds) {
    if (bounds.length === 1) map.setView(bounds[0], 11);
    else if (bounds.length) map.fitBounds(bounds, { maxZoom: 12, padding: [20, 20] });
  }

  function setupBoundary(el, map) {
    var input = document.getElementById(el.dataset.input);
    var status = document.querySelector("[data-boundary-status]");
    var ring = parseRing(input.value);
    var shape = L.polygon([], { color: "#7a2e8e", weight: 2, fillOpacity: 0.1 }).addTo(map);
    var corners = L.layerGroup().addTo(map);
    function render(write) {
      shape.setLatLngs(ring);
      corners.clearLayers();
      ring.forEach(function (ll) { L.circleMarker(ll, { radius: 4, color: "#7a2e8e", fillOpacity: 1 }).addTo(corners); });
      if (write) {
        input.value = ring.length >= 3
          ? JSON.stringify({ type: "Polygon", coordinates: [ring.concat([ring[0]]).map(function (ll) {
              return [Number(ll[1].toFixed(6)), Number(ll[0].toFixed(6))];
            })] })
          : "";
      }
      if (status) status.textContent = ring.length ? String(ring.length) : "";
      el.dataset.corners = String(ring.length);
    }
    map.on("click", function (e) { ring.push([e.latlng.lat, e.latlng.lng]); render(true); });
    var undo = document.querySelector("[data-boundary-undo]");
    if (undo) undo.addEventListener("click", function () { ring.pop(); render(true); });
    var clear = document.querySelector("[data-boundary-clear]");
    if (clear) clear.addEventListener("click", function () { ring = []; render(true); });
    input.addEventListener("change", function () { ring = parseRing(input.value); render(false); });
    render(false);
    return ring.slice();
  }

  function setupPoint(el, map) {
    var lat = document.getElementById(el.dataset.latInput);
    var lon = document.getElementById(el.dataset.lonInput);
    var point = null;
    function setPoint(latlng) {
      if (point) { map.removeLayer(point); point = null; }
      if (latlng) point = L.circleMarker(latlng, { radius: 8, color: "#b3261e", fillColor: "#e53935", fillOpacity: 0.9 }).addTo(map);
    }
    map.on("click", function (e) {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      setPoint(e.latlng);
    });
    [lat, lon].forEach(function (input) {
      input.addEventListener("change", function () {
        if (lat.value && lon.value) setPoint([parseFloat(lat.value), parseFloat(lon.value)]);
      });
    });
    if (lat.value && lon.value) {
      setPoint([parseFloat(lat.value), parseFloat(lon.value)]);
      return [[parseFloat(lat.value), parseFloat(lon.value)]];
    }
    return [];
  }

  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("setup-map");
    if (!el || typeof L === "undefined") return;
    var map = baseMap(el);
    var bounds = [];
    var kind = el.dataset.setupMap;
    if (kind === "boundary") {
      bounds = bounds.concat(setupBoundary(el, map));
    } else if (el.dataset.boundary) {
      var ring = parseRing(el.dataset.boundary);
      if (ring.length) { L.polygon(ring, { color: "#7a2e8e", weight: 2, fillOpacity: 0.08, interactive: false }).addTo(map); }
      bounds = bounds.concat(ring);
    }
    if (kind === "point") bounds = bounds.concat(setupPoint(el, map));
    drawStations(map, bounds);
    fit(map, bounds);
    el.dataset.ready = "true";
  });
})();
