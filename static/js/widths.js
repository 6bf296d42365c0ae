// Bars whose width is data (an offering's funding, a long task's progress): the markup carries data-width="42.5"
// and this sets the width through the element's style property, which the page's CSP allows. Style attributes in
// the portal's markup are refused (style-src-attr 'none').
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-width]"), function (element) {
    var value = parseFloat(element.getAttribute("data-width"));
    if (isFinite(value)) { element.style.width = Math.max(0, Math.min(100, value)) + "%"; }
  });
})();
