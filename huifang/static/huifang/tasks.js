// The task page: the outcome form shows only the fields the chosen outcome needs, and the
// keyboard works it (documented under the form): 1…5 pick the outcome when the focus is not in
// a field that takes text; Ctrl+Enter (⌘+Enter) saves and opens the next task. Without
// JavaScript every field shows and the server checks what matters.
(function () {
  var form = document.getElementById("outcome-form");

  function chosen() {
    var radio = form && form.querySelector("input[name=outcome]:checked");
    return radio ? radio.value : "";
  }

  function ticked(action) {
    var box = form.querySelector("input[name=actions][value=" + action + "]");
    return box ? box.checked : false;
  }

  function refresh() {
    if (!form) return;
    var outcome = chosen();
    form.querySelectorAll("[data-for]").forEach(function (part) {
      var wanted = part.getAttribute("data-for").split(" ").indexOf(outcome) !== -1;
      var action = part.getAttribute("data-action");
      if (wanted && action) wanted = ticked(action);
      part.hidden = !wanted;
    });
  }

  function typing(target) {
    if (!target || target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["radio", "checkbox", "button", "submit"].indexOf(target.type) === -1;
  }

  if (form) {
    form.addEventListener("change", refresh);
    refresh();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var button = document.getElementById("save-next");
      if (button) {
        event.preventDefault();
        button.click();
      }
      return;
    }
    if (!form || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var radio = form.querySelector("input[name=outcome][data-key='" + event.key + "']");
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      radio.focus();
      refresh();
    }
  });
})();
