// The console's behaviour, bound from data-* attributes (the Content-Security-Policy allows no inline handlers).
(function () {
  "use strict";

  // Inert links are dropdown toggles, filter names, the current tab and pagination: never follow them. Our templates
  // write them href="#" (Bootstrap's dropdowns and Flask-Admin's scripts act on the click, but its filter list
  // would still jump to the top of the page); the Flask-Admin templates we do not override keep
  // href="javascript:void(0)", which the policy would refuse to run anyway.
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[href='#'], a[href^='javascript:']") : null;
    if (link) { event.preventDefault(); }
  }, true);

  // Bulk actions: "With selected" items name their action; Flask-Admin's actions.js asks for the confirmation
  // (its text comes from a JSON block) and submits the hidden form.
  document.addEventListener("click", function (event) {
    var item = event.target instanceof Element ? event.target.closest("[data-model-action]") : null;
    if (!item) { return; }
    event.preventDefault();
    if (window.modelActions) { window.modelActions.execute(item.getAttribute("data-model-action")); }
  });

  // Inline lists (a property's FAQ, a KYC form's fields): "Add" names the inline form it copies.
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-inline-add]") : null;
    if (!button) { return; }
    event.preventDefault();
    if (window.faForm) { window.faForm.addInlineField(button, button.getAttribute("data-inline-add")); }
  });

  // A form that only holds fields for another form (the KYC queue's bulk reason) is never sent by itself.
  document.addEventListener("submit", function (event) {
    if (event.target instanceof HTMLFormElement && event.target.hasAttribute("data-no-submit")) { event.preventDefault(); }
  });

  // Fields copied into the hidden bulk-action form as they change.
  document.querySelectorAll("[data-mirror-to]").forEach(function (source) {
    var target = document.getElementById(source.getAttribute("data-mirror-to"));
    if (!target) { return; }
    var copy = function () { target.value = source.value; };
    source.addEventListener("input", copy);
    source.addEventListener("change", copy);
    copy();
  });

  // A document image grows on click.
  document.addEventListener("click", function (event) {
    var image = event.target instanceof Element ? event.target.closest("[data-zoom-toggle]") : null;
    if (image) { image.classList.toggle("zoomed"); }
  });

  // Keyboard shortcuts of a KYC case: a, r, s focus approve, reject, resubmit; n opens the next case.
  // (The page says so with a data-kyc-shortcuts element, which may come after this script.)
  document.addEventListener("keydown", function (e) {
    if (!document.querySelector("[data-kyc-shortcuts]")) { return; }
    var t = e.target.tagName;
    if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var map = {a: "btn-approve", r: "btn-reject", s: "btn-resubmit"};
    if (map[e.key]) { var b = document.getElementById(map[e.key]); if (b) { e.preventDefault(); b.focus(); } }
    if (e.key === "n") { var n = document.getElementById("next-case"); if (n) { window.location = n.href; } }
  });
})();
