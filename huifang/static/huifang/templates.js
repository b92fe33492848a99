/* The template editor: variables inserted at the cursor, fields shown for the chosen channel,
   and the preview refreshed when another customer is picked. */
(function () {
  "use strict";

  // The subject or body last typed in: a click on a variable button takes the focus away.
  let target = null;

  document.addEventListener("focusin", function (event) {
    if (event.target.matches("[data-variable-target]")) {
      target = event.target;
    }
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-insert]");
    if (!button) {
      return;
    }
    const field = target || document.querySelector("[data-variable-target=body]");
    if (!field) {
      return;
    }
    const start = field.selectionStart ?? field.value.length;
    const end = field.selectionEnd ?? start;
    field.setRangeText(button.dataset.insert, start, end, "end");
    field.focus();
    // As if typed: the live preview listens for input.
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  function showChannelFields() {
    const form = document.getElementById("template-form");
    const channel = form && form.querySelector("[name=channel]");
    if (!channel) {
      return;
    }
    form.querySelectorAll("[data-channels]").forEach(function (element) {
      element.hidden = !element.dataset.channels.split(" ").includes(channel.value);
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("#template-form select[name=channel]")) {
      showChannelFields();
    }
  });

  // New search results replace the customer options: preview for the first one found.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "preview-customer") {
      event.detail.target.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", showChannelFields);
  } else {
    showChannelFields();
  }
})();
