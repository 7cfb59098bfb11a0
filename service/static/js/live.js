/* The live stream page: events appear as they arrive, newest first, at most data-max-events
   rows. Filter (by topic patterns and types, applied by the server), pause (events wait, up to
   the same cap) and resume, clear. A `reset` restarts the list. */
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || root.hasAttribute("data-disabled")) return;

  var max = parseInt(root.getAttribute("data-max-events"), 10) || 200;
  var body = document.getElementById("live-events");
  var empty = document.getElementById("live-empty");
  var count = document.getElementById("live-count");
  var waiting = document.getElementById("live-waiting");
  var waitingCount = document.getElementById("live-waiting-count");
  var pauseButton = document.getElementById("live-pause");
  var form = document.getElementById("live-filter");
  var topicsInput = document.getElementById("filter-topics");
  var typesInput = document.getElementById("filter-types");
  var resetNotice = document.getElementById("live-reset");
  var paused = false;
  var held = [];

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text; // text, never HTML: payloads come from producers
    return td;
  }

  function row(event) {
    var tr = document.createElement("tr");
    tr.className = "event-new";
    tr.setAttribute("data-event-id", String(event.id));
    tr.title = "Event " + event.id;
    var time = new Date(event.timestamp);
    tr.appendChild(cell(isNaN(time) ? event.timestamp : time.toLocaleTimeString(), "small text-nowrap"));
    var topic = cell("", "text-truncate");
    var badge = document.createElement("span");
    badge.className = "badge text-bg-secondary";
    badge.textContent = event.topic;
    topic.appendChild(badge);
    tr.appendChild(topic);
    tr.appendChild(cell(event.type, "small text-truncate d-none d-sm-table-cell"));
    tr.appendChild(cell(event.key || "", "small text-body-secondary text-truncate d-none d-md-table-cell"));
    tr.appendChild(cell(JSON.stringify(event.payload), "event-payload"));
    return tr;
  }

  function refreshCount() {
    count.textContent = String(body.querySelectorAll("tr[data-event-id]").length);
    waitingCount.textContent = String(held.length);
    waiting.classList.toggle("d-none", !paused);
  }

  function show(event) {
    if (empty.parentNode) empty.remove();
    body.insertBefore(row(event), body.firstChild);
    while (body.children.length > max) body.removeChild(body.lastChild);
  }

  function clear() {
    body.textContent = "";
    body.appendChild(empty);
    held = [];
    refreshCount();
  }

  var stream = window.Beacon.bindStatus(new window.Beacon.Stream({
    topics: topicsInput.value,
    types: typesInput.value,
    onEvent: function (event) {
      if (paused) {
        held.push(event);
        if (held.length > max) held.shift();
      } else {
        show(event);
      }
      refreshCount();
    },
    onReset: function () {
      clear();
      resetNotice.classList.remove("d-none");
    }
  }));

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.querySelector("span").textContent = paused ? "Resume" : "Pause";
    pauseButton.querySelector("i").className = (paused ? "bi bi-play-fill" : "bi bi-pause-fill") + " me-1";
    if (!paused) {
      held.forEach(show);
      held = [];
    }
    refreshCount();
  });

  document.getElementById("live-clear").addEventListener("click", function () {
    clear();
    resetNotice.classList.add("d-none");
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault(); // no reload: the stream reconnects with the new filter
    var params = new URLSearchParams();
    if (topicsInput.value.trim()) params.set("topics", topicsInput.value.trim());
    if (typesInput.value.trim()) params.set("types", typesInput.value.trim());
    var search = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
    clear();
    resetNotice.classList.add("d-none");
    stream.restart(topicsInput.value.trim(), typesInput.value.trim());
  });

  stream.start();
})();
