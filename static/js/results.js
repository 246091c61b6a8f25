// Identification page: poll the run's status while it works; overlay toggle on the results.
(function () {
  "use strict";
  var POLL_MS = 1500;

  function poll(box) {
    var url = box.dataset.statusUrl;
    var state = document.getElementById("run-state");
    var counts = document.getElementById("run-counts");
    var bar = document.getElementById("run-bar");
    var error = document.getElementById("run-error");
    var notice = document.getElementById("run-notice");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          state.textContent = s.label;
          box.dataset.state = s.state;
          // A stopped worker's last count would look alive: say it stopped and is retried instead.
          counts.textContent = s.total && !s.finished && !s.worker_stopped ? s.done + "/" + s.total : "";
          if (notice) { notice.hidden = !s.notice; notice.textContent = s.notice || ""; }
          if (bar) { bar.max = s.total || 1; bar.value = s.done; }
          if (s.error) { error.hidden = false; error.textContent = s.error; }
          // Finished: load the results (or the failure with its retry button) once.
          if (s.finished) { window.location.reload(); return; }
          window.setTimeout(tick, POLL_MS);
        })
        .catch(function () { window.setTimeout(tick, POLL_MS * 4); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function initToggle() {
    var toggle = document.getElementById("toggle-lines");
    if (!toggle) return;
    toggle.addEventListener("change", function () {
      document.querySelectorAll("img.overlay").forEach(function (img) {
        img.src = toggle.checked ? img.dataset.srcLines : img.dataset.srcClean;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("run-progress");
    var active = ["queued", "extracting", "matching"];
    if (box && active.indexOf(box.dataset.state) >= 0) poll(box);
    initToggle();
  });
})();
