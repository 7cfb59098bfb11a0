/* Runs in <head>, before the first paint (no inline script: the CSP forbids it).
   The server already rendered the user's or the cookie's choice; this settles what it could
   not know: `auto` (the system's preference), or a choice only this browser's storage kept. */
(function () {
  "use strict";
  var root = document.documentElement;
  var choice = root.getAttribute("data-theme") || "auto";
  if (root.getAttribute("data-theme-source") === "default") {
    try {
      var stored = window.localStorage.getItem("theme");
      if (stored === "light" || stored === "dark" || stored === "auto") choice = stored;
    } catch (error) {
      /* storage blocked: keep the server's choice */
    }
  }
  var dark = choice === "dark" ||
    (choice === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  root.setAttribute("data-theme", choice);
  root.setAttribute("data-bs-theme", dark ? "dark" : "light");
})();
