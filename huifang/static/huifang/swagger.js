// Starts Swagger UI on /api/docs with the settings django-ninja wrote into the page as JSON
// (a data block, not a script: the Content-Security-Policy runs script files only).
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var config = JSON.parse(document.getElementById("swagger-settings").textContent);
  config.dom_id = "#swagger-ui";
  config.presets = [window.SwaggerUIBundle.presets.apis];
  window.SwaggerUIBundle(config);
});
