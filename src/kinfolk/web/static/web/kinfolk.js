/* Kinfolk's small page behaviours. Everything works without this file; it adds keyboard comfort:
   "/" focuses search, arrow keys move through results, toasts go away, "select all" on lists. */
(function () {
  "use strict";

  function typingIn(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // ---- global search -----------------------------------------------------------------------
  function searchInput() { return document.getElementById("global-search"); }
  function resultsBox() { return document.getElementById("search-results"); }
  function options() { var box = resultsBox(); return box ? Array.prototype.slice.call(box.querySelectorAll("a[role=option]")) : []; }

  function setActive(index) {
    var all = options(), input = searchInput();
    all.forEach(function (el, i) { el.setAttribute("aria-selected", i === index ? "true" : "false"); });
    if (index >= 0 && all[index]) {
      input.setAttribute("aria-activedescendant", all[index].id);
      all[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function activeIndex() { return options().findIndex(function (el) { return el.getAttribute("aria-selected") === "true"; }); }
  function closeResults() {
    var box = resultsBox(), input = searchInput();
    if (box) box.innerHTML = "";
    if (input) { input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); }
  }

  document.addEventListener("keydown", function (event) {
    var input = searchInput();
    if (!input) return;
    if (event.key === "/" && !typingIn(document.activeElement) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      input.focus();
      input.select();
      return;
    }
    if (document.activeElement !== input) return;
    var all = options(), current = activeIndex();
    if (event.key === "ArrowDown" && all.length) {
      event.preventDefault();
      setActive(current + 1 < all.length ? current + 1 : 0);
    } else if (event.key === "ArrowUp" && all.length) {
      event.preventDefault();
      setActive(current > 0 ? current - 1 : all.length - 1);
    } else if (event.key === "Enter" && current >= 0) {
      event.preventDefault();
      window.location.assign(all[current].href);
    } else if (event.key === "Escape") {
      closeResults();
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "search-results") {
      var input = searchInput();
      input.setAttribute("aria-expanded", options().length ? "true" : "false");
      if (options().length) setActive(0);
    }
  });

  document.addEventListener("click", function (event) {
    var box = resultsBox(), input = searchInput();
    if (box && input && !box.contains(event.target) && event.target !== input) closeResults();
  });

  // ---- toasts ------------------------------------------------------------------------------
  function armToasts(root) {
    (root || document).querySelectorAll(".toast:not([data-armed])").forEach(function (toast) {
      toast.setAttribute("data-armed", "1");
      if (!toast.classList.contains("error")) {
        window.setTimeout(function () { toast.classList.add("hidden"); }, 6000);
      }
    });
  }
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest(".toast-close");
    if (close) close.parentElement.classList.add("hidden");
  });
  document.addEventListener("htmx:afterSettle", function () { armToasts(); });

  // ---- lists: select all, and the bulk bar knows how many are chosen ------------------------
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("input[data-select-all]")) {
      var form = target.form;
      form.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches && target.matches("input[name=ids], input[data-select-all]")) {
      var count = target.form.querySelectorAll("input[name=ids]:checked").length;
      var out = target.form.querySelector("[data-selected-count]");
      if (out) out.textContent = String(count);
    }
    if (target.matches && target.matches("select[data-autosubmit]")) {
      target.form.requestSubmit();
    }
  });

  // ---- inline edit: focus the first field of a form htmx just swapped in (once) ---------------
  document.addEventListener("htmx:afterSettle", function () {
    var field = document.querySelector("[data-autofocus]");
    if (field) {
      field.removeAttribute("data-autofocus");
      field.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () { armToasts(); });
})();
