/* The impact preview page: a failed activation comes back with the period last looked at.
   The charts themselves are drawn by charts.js. */
(function () {
  "use strict";

  function remember() {
    var result = document.getElementById("preview-result");
    var field = document.querySelector("#activate-form input[name=days]");
    if (result && field) {
      field.value = result.getAttribute("data-days");
    }
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "impact") {
      remember();
    }
  });
  document.addEventListener("DOMContentLoaded", remember);
})();
