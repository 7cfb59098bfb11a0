/* The light/dark/auto switch. A choice applies at once, is kept in this browser (localStorage
   and the `theme` cookie the server reads) and, signed in, saved with the account through
   POST /preferences/theme. Without JavaScript the same buttons submit that form. */
(function () {
  "use strict";
  var root = document.documentElement;
  var media = window.matchMedia("(prefers-color-scheme: dark)");

  function remember(choice) {
    try {
      window.localStorage.setItem("theme", choice);
    } catch (error) {
      /* storage blocked: the cookie still remembers */
    }
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = "theme=" + choice + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
  }

  function apply(choice) {
    var dark = choice === "dark" || (choice === "auto" && media.matches);
    root.setAttribute("data-theme", choice);
    root.setAttribute("data-bs-theme", dark ? "dark" : "light");
    document.querySelectorAll("[data-theme-value]").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-theme-value") === choice));
    });
    document.querySelectorAll("#theme-menu").forEach(function (button) {
      button.setAttribute("aria-label", "Theme (" + choice + ")");
    });
  }

  function save(choice) {
    var token = document.querySelector('meta[name="csrf-token"]');
    return fetch("/preferences/theme", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRF-Token": token ? token.content : ""
      },
      body: new URLSearchParams({ theme: choice })
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-theme-value]");
    if (!button) return;
    event.preventDefault();
    var choice = button.getAttribute("data-theme-value");
    apply(choice);
    remember(choice);
    save(choice).catch(function () {
      /* offline: the browser keeps the choice; the account gets it next time */
    });
  });

  media.addEventListener("change", function () {
    if (root.getAttribute("data-theme") === "auto") apply("auto");
  });

  // Keep the browser in step with what the page shows (say, the account's choice after
  // signing in on a new device), so it stays after signing out.
  var shown = root.getAttribute("data-theme") || "auto";
  apply(shown);
  remember(shown);
})();
