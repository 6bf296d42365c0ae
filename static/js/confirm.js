// Confirmations without inline handlers: a form, button or link carrying data-confirm asks first. The text is read
// from the attribute and shown by confirm() as plain text; it is never evaluated or put into the page as HTML.
(function () {
  "use strict";

  function ask(element, event) {
    var message = element.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return false;
    }
    return true;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-confirm")) { ask(form, event); }
  }, true);

  document.addEventListener("click", function (event) {
    var element = event.target instanceof Element ? event.target.closest("button[data-confirm], a[data-confirm], input[data-confirm]") : null;
    if (element && !element.disabled) { ask(element, event); }
  }, true);
})();
