/* The duplicate review queue's keys. Every action is also a button or a link (and works without this
   file): m merge, n not the same person, j / → next pair, k / ← previous pair, u undo the merge just
   made, ? show or hide the keys. An element with data-key="x" is what the key x clicks. */
(function () {
  "use strict";

  var ALIASES = { ArrowRight: "j", ArrowLeft: "k" };

  function typingIn(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "INPUT") {
      var type = (el.getAttribute("type") || "text").toLowerCase();
      return ["radio", "checkbox", "button", "submit", "reset"].indexOf(type) < 0;
    }
    return tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (typingIn(document.activeElement)) return;
    var key = ALIASES[event.key] || event.key;
    if (key === "?") {
      var help = document.getElementById("review-keys");
      if (help) {
        event.preventDefault();
        help.open = !help.open;
        if (help.open) help.querySelector("summary").focus();
      }
      return;
    }
    if (key === "Escape") {
      var open = document.getElementById("review-keys");
      if (open && open.open) open.open = false;
      return;
    }
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target || target.disabled) return;
    event.preventDefault();
    target.click();
  });
})();
