// What every page does, without a line of script in the HTML (the Content-Security-Policy
// allows script files from this site only, no inline script and no on…= attributes):
//   <select data-submit-on-change>       submits its form when a choice is made;
//   <form data-confirm="Question?">      asks before it is submitted;
//   <input data-check-all="selector">    checks or unchecks every box the selector names.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-submit-on-change]") && target.form) {
      target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
    }
    if (target.matches("[data-check-all]")) {
      document.querySelectorAll(target.dataset.checkAll).forEach(function (box) {
        box.checked = target.checked;
      });
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
})();
