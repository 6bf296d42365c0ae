// The invest form: show the first installment for the amount typed (equal parts to the cent, the first ones a
// cent larger when it does not divide evenly, as the server splits it), and send the form once.
(function () {
  "use strict";
  var form = document.querySelector("[data-invest-form]");
  if (!form) { return; }
  var count = parseInt(form.getAttribute("data-installments"), 10) || 1;
  var currency = form.getAttribute("data-currency") || "";
  var amount = form.querySelector("input[name=amount]");
  var first = form.querySelector("[data-first-installment]");

  function cents(text) {
    var cleaned = (text || "").replace(/[,\s\u00a0]/g, "");
    if (!/^(0|[1-9]\d*)(\.\d{1,2})?$/.test(cleaned)) { return null; }
    var parts = cleaned.split(".");
    var frac = ((parts[1] || "") + "00").slice(0, 2);
    return parseInt(parts[0], 10) * 100 + parseInt(frac, 10);
  }

  function show(minor) {
    var whole = Math.floor(minor / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var frac = ("0" + (minor % 100)).slice(-2);
    return currency + " " + whole + "." + frac;
  }

  function update() {
    if (!first || count < 2) { return; }
    var total = cents(amount.value);
    first.textContent = total && total >= count ? show(Math.ceil(total / count)) : "\u2014";
  }

  if (amount) { amount.addEventListener("input", update); }
  form.addEventListener("submit", function () {
    var button = form.querySelector("button[type=submit]");
    if (button) {
      window.setTimeout(function () { button.disabled = true; button.textContent = "Investing\u2026"; }, 0);
    }
  });
})();
