/* Sighting map, individual track and station maps on top of django-leaflet.
 *
 * A map container (an element with data-slreid-map around {% leaflet_map %}) names its data with
 * data-sightings-url (+ data-filter-form), data-track-url, data-stations-url or data-geojson-script.
 * The server already coarsened what the viewer may not see exactly; this file only draws it.
 * Markers are vector shapes, so they work when the tile server can't be reached.
 */
(function () {
  "use strict";

  /* gettext, ngettext and interpolate come from the site's JavaScript catalog (base.html);
   * ngettext is called with literal texts, so that makemessages finds them. */

  window.slreidMaps = window.slreidMaps || {};

  /* Leaflet parses string tooltips and layer names as HTML; every text here goes in as a text node. */
  function textEl(text) {
    var node = document.createElement("span");
    node.textContent = text;
    return node;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  /* Lat/lon lines, so that the map still has a frame of reference without tiles. */
  function addGraticule(map) {
    var layer = L.layerGroup().addTo(map);
    var steps = [20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005];
    function draw() {
      layer.clearLayers();
      var b = map.getBounds();
      var span = Math.max(b.getNorth() - b.getSouth(), b.getEast() - b.getWest());
      var step = steps[steps.length - 1];
      for (var i = 0; i < steps.length; i++) { if (span / steps[i] <= 14) { step = steps[i]; } else { break; } }
      var style = { color: "#8aa0b4", weight: 1, opacity: 0.5, interactive: false, className: "graticule" };
      var s = Math.max(-85, b.getSouth()), n = Math.min(85, b.getNorth());
      for (var lat = Math.floor(s / step) * step; lat <= n; lat += step) {
        L.polyline([[lat, b.getWest()], [lat, b.getEast()]], style).addTo(layer);
      }
      for (var lon = Math.floor(b.getWest() / step) * step; lon <= b.getEast(); lon += step) {
        L.polyline([[s, lon], [n, lon]], style).addTo(layer);
      }
    }
    map.on("moveend", draw);
    draw();
  }

  function sightingEntry(p) {
    var who = p.individual
      ? (p.individual_url ? el("a", { href: p.individual_url }, [p.individual + (p.individual_name ? " " + p.individual_name : "")])
                          : el("span", {}, [p.individual]))
      : el("span", { class: "muted" }, [gettext("not identified")]);
    var link = null;
    if (p.url) {
      var isSighting = p.url !== p.individual_url;
      link = el("a", { href: p.url, class: "popup-link" }, [isSighting ? gettext("Open sighting") : gettext("Individual profile")]);
    }
    return el("div", { class: "popup-sighting", "data-sighting": String(p.id) }, [
      p.thumb ? el("img", { src: p.thumb + (p.thumb.indexOf("?") < 0 ? "?size=160" : ""), alt: "", class: "popup-thumb" }) : null,
      el("div", {}, [
        el("strong", { class: "popup-date" }, [p.date]), " ", who,
        el("div", { class: "muted" }, [[p.organization, p.location, p.station, p.status_label].filter(Boolean).join(" · ")]),
        el("div", { class: p.exact ? "popup-exact" : "popup-approx" },
           [p.exact ? gettext("exact position") : gettext("approximate position (grid cell)")]),
        link,
      ]),
    ]);
  }

  function popupFor(group) {
    var box = el("div", { class: "map-popup" });
    group.slice(0, 8).forEach(function (f) { box.appendChild(sightingEntry(f.properties)); });
    if (group.length > 8) box.appendChild(el("p", { class: "muted" }, [interpolate(gettext("+%s more"), [group.length - 8])]));
    return box;
  }

  /* One marker per distinct point: coarsened sightings of a cell share its centre. */
  function drawSightings(map, layer, features) {
    var groups = {}, order = [];
    features.forEach(function (f) {
      if (!f.geometry || f.geometry.type !== "Point") return;
      var key = f.geometry.coordinates.join(",") + (f.properties.exact ? ":x" : ":c");
      if (!groups[key]) { groups[key] = []; order.push(key); }
      groups[key].push(f);
    });
    var latlngs = [];
    order.forEach(function (key) {
      var group = groups[key], p = group[0].properties;
      var ll = L.latLng(group[0].geometry.coordinates[1], group[0].geometry.coordinates[0]);
      latlngs.push(ll);
      if (!p.exact && p.grid) {
        var h = p.grid / 2;
        L.rectangle([[ll.lat - h, ll.lng - h], [ll.lat + h, ll.lng + h]], {
          color: "#b05d1d", weight: 1, dashArray: "4 4", fillOpacity: 0.06, interactive: false, className: "grid-cell",
        }).addTo(layer);
      }
      var marker = L.circleMarker(ll, {
        radius: Math.min(6 + 2 * Math.sqrt(group.length - 1), 16),
        color: p.exact ? "#17324d" : "#b05d1d",
        fillColor: p.exact ? "#2a6f97" : "#f0a35e",
        fillOpacity: 0.85, weight: 2,
        dashArray: p.exact ? null : "3 2",
        className: "sighting-marker " + (p.exact ? "exact" : "coarse"),
      });
      marker.bindPopup(function () { return popupFor(group); }, { maxWidth: 320, minWidth: 220 });
      marker.bindTooltip(textEl(group.length > 1 ? interpolate(ngettext("%s sighting", "%s sightings", group.length), [group.length]) : p.date));
      marker.addTo(layer);
    });
    return { markers: order.length, latlngs: latlngs };
  }

  function drawTrack(map, layer, features) {
    var moves = features.filter(function (f) { return f.geometry.type === "LineString"; });
    moves.forEach(function (f, i) {
      var c = f.geometry.coordinates, p = f.properties;
      var line = L.polyline([[c[0][1], c[0][0]], [c[1][1], c[1][0]]], {
        color: "#7a2e8e", weight: 3, opacity: 0.8, className: "track-line",
      }).addTo(layer);
      var label = (i + 1) + ". " + p.from + " → " + p.to + " · " +
        interpolate(gettext("%(km)s km in %(days)s days"), { km: p.km, days: p.days }, true);
      line.bindTooltip(textEl(label), { permanent: moves.length <= 6, direction: "center", className: "track-label" });
    });
  }

  function drawStations(map, layer, features) {
    var latlngs = [];
    features.forEach(function (f) {
      var p = f.properties, ll = L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0]);
      latlngs.push(ll);
      var box = el("div", { class: "map-popup" }, [
        el("strong", {}, [interpolate(gettext("Station %s"), [p.code])]),
        el("div", { class: "muted" }, [[p.location, p.organization].filter(Boolean).join(" · ")]),
        el("div", {}, [interpolate(gettext("operating: %(from)s – %(to)s"), { from: p.operating_from || "?", to: p.operating_to || "?" }, true)]),
        el("div", { class: p.exact ? "popup-exact" : "popup-approx" },
           [p.exact ? gettext("exact position") : gettext("approximate position (grid cell)")]),
      ]);
      if (p.individuals.length) {
        var list = el("div", {}, [interpolate(ngettext("%s individual detected", "%s individuals detected", p.individuals.length), [p.individuals.length]) + ": "]);
        p.individuals.forEach(function (ind, i) {
          if (i) list.appendChild(document.createTextNode(", "));
          list.appendChild(ind.url ? el("a", { href: ind.url }, [ind.code]) : el("span", {}, [ind.code]));
        });
        box.appendChild(list);
      }
      L.circleMarker(ll, {
        radius: 6, color: "#2d5a27", fillColor: "#9ccf8f", fillOpacity: 0.9, weight: 2,
        className: "station-marker " + (p.exact ? "exact" : "coarse"),
      }).bindPopup(box).addTo(layer);
    });
    return latlngs;
  }

  /* Fit the view to the points, then call done once the map has stopped moving: Leaflet animates
     the zoom after the markers are drawn, and a click meant for a marker while the view still moves
     lands on the bare map. Leaflet fires moveend on every path of setView, even when nothing moves. */
  function fit(map, latlngs, done) {
    if (!latlngs.length) { if (done) done(); return; }
    if (done) map.once("moveend", done);
    if (latlngs.length === 1) { map.setView(latlngs[0], 11); return; }
    map.fitBounds(L.latLngBounds(latlngs), { padding: [30, 30], maxZoom: 12 });
  }

  function setStatus(text) {
    var node = document.getElementById("map-status");
    if (node) node.textContent = text;
  }

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) {
        if (r.status === 400) {
          // A bad filter value: say which one, in the server's (translated) words.
          return r.json().then(function (body) {
            var parts = Object.keys(body.errors || {}).map(function (field) {
              return field + ": " + body.errors[field].map(function (e) { return e.message; }).join(" ");
            });
            throw new Error(gettext("Invalid filter") + " — " + parts.join("; "));
          });
        }
        if (!r.ok) throw new Error(gettext("Could not load the map data."));
        return r.json();
      });
  }

  function setupSightings(frame, map, state) {
    var form = frame.dataset.filterForm ? document.getElementById(frame.dataset.filterForm) : null;
    var layer = L.featureGroup().addTo(map);
    function query() {
      if (!form) return "";
      var params = new URLSearchParams(new FormData(form));
      Array.from(params.keys()).forEach(function (k) { if (!params.get(k)) params.delete(k); });
      return params.toString();
    }
    function load(first) {
      var qs = query();
      frame.dataset.loaded = "false";
      return fetchJSON(frame.dataset.sightingsUrl + (qs ? "?" + qs : "")).then(function (data) {
        layer.clearLayers();
        var drawn = drawSightings(map, layer, data.features);
        state.markers = drawn.markers;
        state.sightings = data.features.length;
        frame.dataset.markers = String(drawn.markers);
        frame.dataset.sightings = String(data.features.length);
        var text = data.features.length
          ? interpolate(ngettext("%s sighting shown on the map", "%s sightings shown on the map", data.features.length), [data.features.length])
          : gettext("No sightings match these filters.");
        if (data.without_coordinates) {
          text += " (" + interpolate(ngettext("%s without coordinates", "%s without coordinates", data.without_coordinates), [data.without_coordinates]) + ")";
        }
        setStatus(text);
        if (!first && window.history.replaceState) window.history.replaceState(null, "", "?" + qs);
        fit(map, drawn.latlngs, function () { frame.dataset.loaded = "true"; });
      }).catch(function (err) { setStatus(err.message || gettext("Could not load the map data.")); frame.dataset.loaded = "error"; });
    }
    if (form) {
      form.addEventListener("submit", function (e) { e.preventDefault(); load(false); });
      form.addEventListener("change", function () { load(false); });
    }
    state.reload = load;
    load(true);
  }

  function setupCollection(frame, map, state, data) {
    var layer = L.featureGroup().addTo(map);
    var kind = frame.dataset.slreidMap;
    var latlngs;
    if (kind === "stations") {
      latlngs = drawStations(map, layer, data.features);
      state.markers = latlngs.length;
    } else {
      if (kind === "track") drawTrack(map, layer, data.features);
      var drawn = drawSightings(map, layer, data.features);
      state.markers = drawn.markers;
      latlngs = drawn.latlngs;
    }
    frame.dataset.markers = String(state.markers);
    fit(map, latlngs, function () { frame.dataset.loaded = "true"; });
  }

  /* Camera stations as a layer the user switches on; loaded on first use. */
  function addStationsOverlay(frame, map) {
    var layer = L.featureGroup(), loaded = false;
    // The layer name is the one string Leaflet insists on taking as HTML: escape it.
    var name = textEl(gettext("Camera stations")).outerHTML;
    L.control.layers(null, (function () { var o = {}; o[name] = layer; return o; })(),
                     { collapsed: false }).addTo(map);
    map.on("overlayadd", function (e) {
      if (e.layer !== layer || loaded) return;
      loaded = true;
      fetchJSON(frame.dataset.stationsUrl).then(function (data) { drawStations(map, layer, data.features); })
        .catch(function (err) { setStatus(err.message); });
    });
  }

  window.addEventListener("map:init", function (event) {
    var map = event.detail.map;
    var container = document.getElementById(event.detail.id);
    var frame = container && container.closest("[data-slreid-map]");
    if (!frame) return;
    var state = { map: map, markers: 0 };
    window.slreidMaps[event.detail.id] = state;
    addGraticule(map);
    if (frame.dataset.sightingsUrl) {
      setupSightings(frame, map, state);
      if (frame.dataset.stationsUrl) addStationsOverlay(frame, map);
    } else if (frame.dataset.geojsonScript) {
      setupCollection(frame, map, state, JSON.parse(document.getElementById(frame.dataset.geojsonScript).textContent));
    } else {
      var url = frame.dataset.trackUrl || frame.dataset.stationsUrl;
      fetchJSON(url).then(function (data) { setupCollection(frame, map, state, data); })
        .catch(function () { setStatus(gettext("Could not load the map data.")); frame.dataset.loaded = "error"; });
    }
  });
})();
