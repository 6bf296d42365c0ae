// Long work shown as a progress bar (templates/_progress.html): every element with data-progress-url asks that URL
// for {percent, status, done, total, label} every second or few, moves its bar and writes its counters; once the
// status is one of data-progress-final (default "done failed ready completed cancelled") it reloads the page, which
// then shows the outcome. Nothing of the answer is read as HTML.
(function () {
  "use strict";
  var boxes = document.querySelectorAll("[data-progress-url]");
  Array.prototype.forEach.call(boxes, function (box) {
    var url = box.getAttribute("data-progress-url");
    var finals = (box.getAttribute("data-progress-final") || "done failed ready completed cancelled").split(" ");
    if (finals.indexOf(box.getAttribute("data-progress-state")) !== -1) { return; }
    var bar = box.querySelector("[data-progress-bar]");
    var counts = box.querySelector("[data-progress-counts]");
    var tries = 0;

    function show(data) {
      var percent = Math.max(0, Math.min(100, parseInt(data.percent, 10) || 0));
      if (bar) {
        bar.style.width = percent + "%";
        bar.textContent = percent + "%";
        bar.parentNode.setAttribute("aria-valuenow", String(percent));
      }
      if (counts && data.total !== undefined && data.total !== null) {
        counts.textContent = (data.label ? data.label + ": " : "") + String(data.done || 0) + " / " + String(data.total);
      }
    }

    function poll() {
      tries += 1;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return later(); }
          show(data);
          if (finals.indexOf(data.status) !== -1) { window.location.reload(); return; }
          later();
        })
        .catch(later);
    }

    function later() {
      if (tries < 1200) { window.setTimeout(poll, tries < 10 ? 1000 : 3000); }
    }

    later();
  });
})();
