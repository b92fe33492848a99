/* The strategy builder: every change is posted (htmx) and the form comes back with problems
   marked. Two things keep typing safe: the field being typed in keeps what was typed even when
   an answer for an earlier change replaces the form, and leaving the page while a change has
   not reached the server asks first. */
(function () {
  "use strict";

  const form = document.getElementById("builder");
  if (!form) {
    return;
  }
  let pending = 0; // requests sent and not answered
  let typing = false; // typed into a field since its last change event
  let kept = null;

  form.addEventListener("input", function () {
    typing = true;
  });
  form.addEventListener("change", function () {
    typing = false;
  });
  form.addEventListener("htmx:beforeRequest", function () {
    pending += 1;
  });
  form.addEventListener("htmx:afterRequest", function () {
    pending = Math.max(0, pending - 1);
  });

  form.addEventListener("htmx:beforeSwap", function () {
    const active = document.activeElement;
    kept = null;
    if (active && active.id && form.contains(active) && "value" in active && typing) {
      kept = { id: active.id, value: active.value };
    }
  });
  form.addEventListener("htmx:afterSwap", function () {
    if (!kept) {
      return;
    }
    const field = document.getElementById(kept.id);
    if (field && field.value !== kept.value) {
      field.value = kept.value;
      field.focus();
    }
    kept = null;
  });

  // A problem listed above the form: jump to its field and focus it.
  form.addEventListener("click", function (event) {
    const link = event.target.closest("#builder-problems a[href^='#']");
    if (!link) {
      return;
    }
    const field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.scrollIntoView({ block: "center" });
      field.focus();
    }
  });

  window.addEventListener("beforeunload", function (event) {
    if (pending > 0 || typing) {
      event.preventDefault();
      event.returnValue = form.dataset.leaveWarning || "";
    }
  });
})();
