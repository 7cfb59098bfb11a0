/* Admin → Stream: GET /api/v1/stats every couple of seconds, shown in place. Waits while the
   tab is hidden; a failed request shows why and tries again. */
(function () {
  "use strict";
  var root = document.getElementById("admin-stats");
  if (!root) return;
  var url = root.getAttribute("data-url");
  var every = parseInt(root.getAttribute("data-every-ms"), 10) || 2000;
  var problem = document.getElementById("stats-error");

  function text(id, value) {
    document.getElementById(id).textContent = value === null || value === undefined ? "–" : String(value);
  }

  function rows(id, counts) {
    var body = document.getElementById(id);
    body.textContent = "";
    var keys = Object.keys(counts);
    if (!keys.length) {
      var none = document.createElement("tr");
      var cell = document.createElement("td");
      cell.colSpan = 2;
      cell.className = "text-body-secondary";
      cell.textContent = "none";
      none.appendChild(cell);
      body.appendChild(none);
      return;
    }
    keys.forEach(function (key) {
      var tr = document.createElement("tr");
      var name = document.createElement("td");
      name.textContent = key;
      var value = document.createElement("td");
      value.className = "text-end";
      value.textContent = String(counts[key]);
      tr.appendChild(name);
      tr.appendChild(value);
      body.appendChild(tr);
    });
  }

  function show(stats) {
    var total = Object.keys(stats.connections).reduce(function (sum, key) {
      return sum + stats.connections[key];
    }, 0);
    text("stats-instance", stats.instance); // each refresh may reach another worker
    text("stats-connections", total);
    text("stats-consumed", stats.consumed);
    text("stats-delivered", stats.delivered);
    text("stats-dropped", stats.dropped);
    text("stats-slow", stats.slow_disconnects);
    text("stats-lag", stats.consumer_lag_ms === null ? null : stats.consumer_lag_ms + " ms");
    text("stats-broker", stats.broker);
    text("stats-latest", stats.latest_id);
    rows("stats-transports", stats.connections);
    rows("stats-topics", stats.subscribers_per_topic);
    text("stats-updated", new Date().toLocaleTimeString());
  }

  function refresh() {
    if (document.hidden) {
      window.setTimeout(refresh, every);
      return;
    }
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message || "HTTP " + response.status);
          return body;
        });
      })
      .then(function (stats) {
        problem.classList.add("d-none");
        show(stats);
      })
      .catch(function (error) {
        problem.textContent = "Could not load the statistics: " + error.message;
        problem.classList.remove("d-none");
      })
      .finally(function () {
        window.setTimeout(refresh, every);
      });
  }
  refresh();
})();
