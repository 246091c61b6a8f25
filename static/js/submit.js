// Submission pages: drop zone, place picker (Leaflet), and the box editor on each photo.
(function () {
  "use strict";

  // Data the page gives as JSON (json_script); the texts come from gettext (the JavaScript catalog).
  function text(id, fallback) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : fallback;
  }

  var BOX_STATUS = {
    detector: gettext("Suggested by the detector, not yet confirmed"),
    motion: gettext("Suggested from the motion in the burst, not yet confirmed"),
    user: gettext("Box confirmed"),
    "import": gettext("Box confirmed"),
  };

  // ---- Drop zone: dropped files go into the real <input type=file>, so the form posts them.
  function initDropzone() {
    var zone = document.getElementById("dropzone");
    var input = document.getElementById("files");
    var list = document.getElementById("file-list");
    if (!zone || !input) return;
    function show() {
      list.textContent = "";
      Array.prototype.forEach.call(input.files, function (f) {
        var li = document.createElement("li");
        li.textContent = f.name + " (" + interpolate(gettext("%s kB"), [Math.round(f.size / 1024)]) + ")";
        list.appendChild(li);
      });
    }
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      var dt = new DataTransfer();
      Array.prototype.forEach.call(input.files, function (f) { dt.items.add(f); });
      Array.prototype.forEach.call(e.dataTransfer.files, function (f) { dt.items.add(f); });
      input.files = dt.files;
      show();
    });
  }

  // ---- Place picker: stations as markers, a click sets the point. Markers are vector
  // circles, so the map is usable even where the tile server can't be reached.
  function initPlaceMap() {
    var el = document.getElementById("place-map");
    if (!el || typeof L === "undefined") return;
    var lat = document.getElementById(el.dataset.latInput);
    var lon = document.getElementById(el.dataset.lonInput);
    var station = document.getElementById(el.dataset.stationInput);
    var center = JSON.parse(el.dataset.center || "[40.5, 75]");
    var map = L.map(el).setView(center, 6);
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution, maxZoom: 18 }).addTo(map);
    }
    var stations = text("stations-data", []);
    var bounds = [];
    stations.forEach(function (s) {
      if (s.lat === null) return;
      // The label is a station code and study area that any partner or import may set: Leaflet
      // would parse a string as HTML, so it gets a text node.
      var label = document.createElement("span");
      label.textContent = s.label;
      var m = L.circleMarker([s.lat, s.lon], {
        radius: 6, color: "#17324d", fillColor: "#2a6f97", fillOpacity: 0.8, className: "place-station",
      }).bindTooltip(label).addTo(map);
      m.on("click", function (e) {
        L.DomEvent.stopPropagation(e);
        if (station) station.value = String(s.id);
        lat.value = ""; lon.value = "";
        setPoint(null);
      });
      bounds.push([s.lat, s.lon]);
    });
    var point = null;
    function setPoint(latlng) {
      if (point) { map.removeLayer(point); point = null; }
      if (latlng) {
        point = L.circleMarker(latlng, { radius: 8, color: "#b3261e", fillColor: "#e53935", fillOpacity: 0.9 }).addTo(map);
      }
    }
    if (lat.value && lon.value) {
      setPoint([parseFloat(lat.value), parseFloat(lon.value)]);
      map.setView([parseFloat(lat.value), parseFloat(lon.value)], 10);
    } else if (bounds.length) {
      map.fitBounds(bounds, { maxZoom: 10, padding: [20, 20] });
    }
    map.on("click", function (e) {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      if (station) station.value = "";
      setPoint(e.latlng);
    });
    [lat, lon].forEach(function (input) {
      input.addEventListener("change", function () {
        if (lat.value && lon.value) setPoint([parseFloat(lat.value), parseFloat(lon.value)]);
      });
    });
    var clear = document.querySelector("[data-clear-point]");
    if (clear) clear.addEventListener("click", function () { lat.value = ""; lon.value = ""; setPoint(null); });
  }

  // ---- Box editor: an SVG rectangle over the photo, kept in original-image pixels.
  var SVGNS = "http://www.w3.org/2000/svg";

  // Edits not yet stored: the page warns before it is left while any save is pending or failed.
  var unsaved = {};
  function anyUnsaved() { return Object.keys(unsaved).length > 0; }
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function Editor(card) {
    this.card = card;
    this.boxer = card.querySelector(".boxer");
    this.img = this.boxer.querySelector("img");
    this.svg = this.boxer.querySelector("svg");
    this.value = card.querySelector(".box-value");
    this.source = card.querySelector(".box-source");
    this.status = card.querySelector(".box-status");
    this.saveStatus = card.querySelector(".box-save");
    this.bodyPart = card.querySelector("select[name^=body_part-]");
    this.saveUrl = card.dataset.saveUrl || "";
    this.inFlight = false;
    this.again = false;
    this.naturalW = parseInt(this.boxer.dataset.width, 10) || 0;
    this.naturalH = parseInt(this.boxer.dataset.height, 10) || 0;
    this.drawing = false;
    this.rect = document.createElementNS(SVGNS, "rect");
    this.rect.setAttribute("class", "box-rect");
    this.svg.appendChild(this.rect);
    var self = this;
    this.img.addEventListener("load", function () { self.render(); });
    window.addEventListener("resize", function () { self.render(); });
    card.querySelectorAll("[data-box-action]").forEach(function (b) {
      b.addEventListener("click", function () { self[b.dataset.boxAction](); });
    });
    // A sighting that can't be edited shows its boxes, but they can't be redrawn.
    if (card.closest("[data-readonly]")) { this.render(); return; }
    this.svg.addEventListener("pointerdown", function (e) { self.start(e); });
    this.svg.addEventListener("pointermove", function (e) { self.move(e); });
    this.svg.addEventListener("pointerup", function (e) { self.end(e); });
    this.render();
  }

  Editor.prototype.box = function () {
    if (!this.value.value) return null;
    var v = this.value.value.split(",").map(Number);
    return { x: v[0], y: v[1], w: v[2], h: v[3] };
  };
  Editor.prototype.set = function (box, source) {
    this.value.value = box ? [box.x, box.y, box.w, box.h].map(Math.round).join(",") : "";
    this.source.value = box ? source : "";
    this.render();
  };
  Editor.prototype.scale = function () {
    var w = this.img.clientWidth || 1;
    return this.naturalW ? w / this.naturalW : 1;
  };
  Editor.prototype.render = function () {
    var s = this.scale();
    this.svg.setAttribute("width", this.img.clientWidth);
    this.svg.setAttribute("height", this.img.clientHeight);
    var b = this.box();
    if (b) {
      this.rect.setAttribute("x", b.x * s); this.rect.setAttribute("y", b.y * s);
      this.rect.setAttribute("width", b.w * s); this.rect.setAttribute("height", b.h * s);
      this.rect.style.display = "";
      this.rect.setAttribute("data-source", this.source.value);
    } else {
      this.rect.style.display = "none";
    }
    this.status.textContent = this.drawing ? gettext("Drag on the photo to draw the box")
      : (b ? BOX_STATUS[this.source.value] || BOX_STATUS.user : gettext("No box: the whole frame is matched"));
    this.card.dataset.boxSource = b ? this.source.value : "none";
  };
  Editor.prototype.accept = function () {
    if (this.box()) { this.set(this.box(), "user"); this.save(); }
  };
  Editor.prototype.remove = function () { this.set(null, ""); this.save(); };
  Editor.prototype.showSave = function (state, message) {
    if (!this.saveStatus) return;
    this.saveStatus.dataset.state = state;
    this.saveStatus.textContent = {
      saving: gettext("Saving…"), saved: gettext("Saved"), failed: gettext("Not saved:") + " " + message,
    }[state] || "";
  };
  // Each edit is stored as it is made; an edit made while one is on its way goes in the next request.
  Editor.prototype.save = function () {
    if (!this.saveUrl) return;
    var id = this.card.dataset.imageId;
    unsaved[id] = true;
    this.showSave("saving");
    if (this.inFlight) { this.again = true; return; }
    this.inFlight = true;
    var self = this, b = this.box();
    var body = {
      box: b ? [b.x, b.y, b.w, b.h] : null,
      source: b ? (this.source.value || "user") : "",
      body_part: this.bodyPart ? this.bodyPart.value : "",
    };
    fetch(this.saveUrl, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, data: data, status: r.status }; });
      })
      .then(function (res) {
        self.inFlight = false;
        if (self.again) { self.again = false; self.save(); return; }
        if (res.ok) {
          delete unsaved[id];
          self.showSave("saved");
        } else {
          self.showSave("failed", res.data.error || String(res.status));
        }
      })
      .catch(function () {
        self.inFlight = false;
        if (self.again) { self.again = false; self.save(); return; }
        self.showSave("failed", gettext("the server could not be reached"));
      });
  };
  Editor.prototype.redraw = function () {
    this.drawing = true;
    this.boxer.classList.add("drawing");
    this.render();
  };
  Editor.prototype.point = function (e) {
    var r = this.svg.getBoundingClientRect(), s = this.scale();
    var x = Math.min(Math.max(e.clientX - r.left, 0), r.width) / s;
    var y = Math.min(Math.max(e.clientY - r.top, 0), r.height) / s;
    return { x: x, y: y };
  };
  Editor.prototype.start = function (e) {
    // Dragging on the photo always draws: "Redraw" only makes it discoverable.
    e.preventDefault();
    this.svg.setPointerCapture(e.pointerId);
    this.before = this.box();
    this.beforeSource = this.source.value;
    this.origin = this.point(e);
    this.drawing = true;
  };
  Editor.prototype.move = function (e) {
    if (!this.origin) return;
    var p = this.point(e), o = this.origin;
    this.value.value = [Math.min(o.x, p.x), Math.min(o.y, p.y), Math.abs(p.x - o.x), Math.abs(p.y - o.y)].map(Math.round).join(",");
    this.source.value = "user";
    this.render();
  };
  Editor.prototype.end = function (e) {
    if (!this.origin) return;
    this.move(e);
    this.origin = null;
    this.drawing = false;
    this.boxer.classList.remove("drawing");
    var b = this.box();
    if (!b || b.w < 4 || b.h < 4) { this.set(this.before, this.beforeSource); return; }  // a click, not a drag
    // Kept inside the photo: rounding the scaled pointer may overshoot its edge by a pixel.
    if (this.naturalW) b.w = Math.min(b.w, this.naturalW - b.x);
    if (this.naturalH) b.h = Math.min(b.h, this.naturalH - b.y);
    this.set(b, "user");
    this.save();
  };

  function initEditors() {
    var cards = document.querySelectorAll(".image-editor");
    if (!cards.length) return;
    var editors = {};
    cards.forEach(function (c) { editors[c.dataset.imageId] = new Editor(c); });
    var form = document.getElementById("images-form");
    var submitting = false;
    if (form) form.addEventListener("submit", function () { submitting = true; });
    window.addEventListener("beforeunload", function (e) {
      // The form posts every box itself, so submitting it loses nothing.
      if (submitting || !anyUnsaved()) return;
      e.preventDefault();
      e.returnValue = "";
    });
    var status = document.getElementById("suggest-status");
    var needs = Object.keys(editors).some(function (id) { return !editors[id].box() && !editors[id].source.value; });
    if (!status || !needs || !status.dataset.boxesUrl) return;
    status.textContent = gettext("Looking for the animal…");
    fetch(status.dataset.boxesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        data.boxes.forEach(function (s) {
          var ed = editors[String(s.image)];
          // Never overwrite what the user already drew or saved.
          if (ed && s.box && !ed.box() && !ed.source.value) ed.set(s.box, s.box.source);
        });
        status.textContent = data.message || gettext("Suggestions ready");
        document.body.dataset.suggestions = "ready";
      })
      .catch(function () { status.textContent = ""; document.body.dataset.suggestions = "failed"; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Each part works on its own: a map that can't start must not take the box editor down.
    [initDropzone, initPlaceMap, initEditors].forEach(function (init) {
      try { init(); } catch (e) { window.setTimeout(function () { throw e; }); }
    });
  });
})();
