/* The impact preview page: "Activate" opens once the figures are in (a simulation that failed
   keeps it shut), and a failed activation comes back with the period last looked at. The
   charts themselves are drawn by charts.js. */
(function () {
  "use strict";

  function remember() {
    var result = document.getElementById("preview-result");
    var field = document.querySelector("#activate-form input[name=days]");
    if (result && field) {
      field.value = result.getAttribute("data-days");
    }
  }

  function openActivation() {
    var button = document.getElementById("activate");
    var wait = document.getElementById("activate-wait");
    var done = document.getElementById("preview-result");
    if (button) {
      button.disabled = !done;
    }
    if (wait) {
      wait.hidden = Boolean(done);
    }
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "impact") {
      remember();
      openActivation();
    }
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target && (event.target.id === "impact" || event.target.id === "preview-days")) {
      var button = document.getElementById("activate");
      if (button) {
        button.disabled = true;
      }
    }
  });
  document.addEventListener("DOMContentLoaded", remember);
})();
