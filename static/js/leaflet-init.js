/* Starts the django-leaflet maps of {% csp_leaflet_map %} from a static file (the CSP allows no
 * inline script). The options are django-leaflet's own, read from a JSON data block; the map
 * fires the usual "map:init" event, so this file goes after the scripts that listen for it. */
(function () {
  "use strict";

  function start() {
    document.querySelectorAll("[data-leaflet-options]").forEach(function (node) {
      var source = document.getElementById(node.dataset.leafletOptions);
      if (!source || typeof L === "undefined") return;
      L.Map.djangoMap(node.id, { djoptions: JSON.parse(source.textContent), globals: false, callback: null });
    });
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
