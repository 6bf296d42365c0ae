// The compose form of a staff message (templates/admin/staff_messages/compose.html): only the field the chosen
// recipients need is shown (one investor, a property, a number of days). Without script every field stays shown.
(function () {
  "use strict";
  var select = document.getElementById("segment");
  if (!select) { return; }
  var fields = document.querySelectorAll("[data-segment-field]");

  function show() {
    Array.prototype.forEach.call(fields, function (field) {
      field.hidden = field.getAttribute("data-segment-field") !== select.value;
    });
  }

  select.addEventListener("change", show);
  show();
})();
