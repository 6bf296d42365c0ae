// A statement being prepared: ask its status every two seconds, move the progress bar, and reload the page once
// it is ready or has failed (the page then shows the download links or the reason).
(function () {
  "use strict";
  var box = document.querySelector("[data-statement-status]");
  if (!box) { return; }
  var state = box.getAttribute("data-state");
  if (state !== "queued" && state !== "running") { return; }
  var url = box.getAttribute("data-statement-status");
  var bar = box.querySelector("[data-progress-bar]");
  var tries = 0;

  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return later(); }
        if (bar) {
          bar.style.width = data.percent + "%";
          bar.textContent = data.percent + "%";
          bar.parentNode.setAttribute("aria-valuenow", data.percent);
        }
        if (data.status === "ready" || data.status === "failed") { window.location.reload(); return; }
        later();
      })
      .catch(later);
  }

  function later() {
    if (tries < 900) { window.setTimeout(poll, tries < 10 ? 1000 : 3000); }
  }

  later();
})();
