// Starts Swagger UI (static/vendor/swagger-ui) on the OpenAPI document named by the page's data-spec-url: no inline
// script, no request to another host (the online validator is off), and the bearer token entered under
// "Authorize" stays in the page's memory (never in localStorage).
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") { return; }

  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayOperationId: false,
    displayRequestDuration: true,
    filter: true,
    persistAuthorization: false,
    validatorUrl: null,
    tryItOutEnabled: false
  });
})();
