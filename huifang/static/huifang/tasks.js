// The task page from the keyboard: Ctrl+Enter (⌘+Enter) saves and opens the next task.
// Alt+1…5 pick the outcome through the radios' accesskeys, which browsers handle themselves.
document.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    var button = document.getElementById("save-next");
    if (button) {
      event.preventDefault();
      button.click();
    }
  }
});
