// The notification template editor's live preview: the form's fields are rendered by the server (in the same
// sandbox as real sends) and shown as text; the HTML goes into a sandboxed frame that runs no script.
(function () {
  "use strict";
  var panel = document.querySelector("[data-preview-url]");
  if (!panel) { return; }
  var form = document.querySelector("form.admin-form") || document.querySelector("form[method='POST']");
  var tokenField = document.querySelector("input[name='csrf_token']");
  if (!form || !tokenField) { return; }
  var token = tokenField.value;
  var byName = function (n) { return form.querySelector("[name='" + n + "']"); };
  var timer = null;

  function render() {
    var data = new FormData();
    ["event", "channel", "subject", "body", "html"].forEach(function (n) { data.append(n, byName(n) ? byName(n).value : ""); });
    data.append("csrf_token", token);
    fetch(panel.getAttribute("data-preview-url"), {method: "POST", body: data, headers: {"X-CSRFToken": token}, credentials: "same-origin"})
      .then(function (r) { return r.json(); }).then(function (r) {
        var err = document.getElementById("preview-error");
        if (!r.ok) { err.textContent = r.error; err.classList.remove("d-none"); return; }
        err.classList.add("d-none");
        document.getElementById("preview-subject").textContent = r.subject || "";
        document.getElementById("preview-body").textContent = r.body || "";
        document.getElementById("preview-html").srcdoc = r.html || "";
        document.getElementById("preview-sample").textContent = r.sample || "";
      });
  }

  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(render, 300); });
  form.addEventListener("change", render);
  document.getElementById("load-source").addEventListener("click", function () {
    var q = new URLSearchParams({event: byName("event").value, channel: byName("channel").value});
    fetch(panel.getAttribute("data-source-url") + "?" + q, {credentials: "same-origin"})
      .then(function (r) { return r.json(); }).then(function (r) {
        if (!r.ok) { return; }
        ["subject", "body", "html"].forEach(function (n) { if (byName(n) && r[n] !== undefined) { byName(n).value = r[n]; } });
        render();
      });
  });
  render();
})();
