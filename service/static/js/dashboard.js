/* The dashboard's widgets, updated in place from the stream: counters, the demo producer's
   system load as an SVG line chart, memory, and the ticker. A `reset` clears the chart and
   the counters, since events in between may be missing. */
(function () {
  "use strict";
  if (!document.getElementById("dashboard")) return;

  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 600;
  var HEIGHT = 200;
  var SAMPLES = 60;
  var chart = document.getElementById("load-chart");
  var loads = [];
  var total = 0;
  var perTopic = {};
  var MAX_TOPICS = 50;
  var prices = {};

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  function svg(name, attributes) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    return element;
  }

  function drawChart() {
    chart.querySelectorAll(".drawn").forEach(function (element) { element.remove(); });
    text("chart-count", String(loads.length));
    var top = Math.max(1, Math.ceil(Math.max.apply(null, loads.concat([0])) * 1.2));
    for (var i = 0; i <= 4; i += 1) {
      var y = HEIGHT - (HEIGHT * i) / 4;
      chart.appendChild(svg("line", { x1: 0, x2: WIDTH, y1: y, y2: y, class: "grid drawn" }));
    }
    var label = svg("text", { x: 4, y: 12, class: "axis-label drawn" });
    label.textContent = String(top);
    chart.appendChild(label);
    if (loads.length < 2) return;
    var step = WIDTH / (SAMPLES - 1);
    var offset = WIDTH - step * (loads.length - 1);
    var points = loads.map(function (value, index) {
      return (offset + index * step).toFixed(1) + "," + (HEIGHT - (value / top) * HEIGHT).toFixed(1);
    });
    chart.appendChild(svg("polygon", {
      points: offset.toFixed(1) + "," + HEIGHT + " " + points.join(" ") + " " + WIDTH + "," + HEIGHT,
      class: "area drawn"
    }));
    chart.appendChild(svg("polyline", { points: points.join(" "), class: "line drawn" }));
  }

  function showMetrics(payload) {
    if (typeof payload.load1 === "number") {
      text("stat-load", payload.load1.toFixed(2));
      loads.push(payload.load1);
      if (loads.length > SAMPLES) loads.shift();
      drawChart();
    }
    if (typeof payload.memory_used_percent === "number") {
      var used = Math.max(0, Math.min(100, payload.memory_used_percent));
      text("stat-memory", used.toFixed(1) + " %");
      document.getElementById("memory-bar").style.width = used + "%"; // CSSOM, which CSP allows
      document.getElementById("memory-meter").setAttribute("aria-valuenow", String(Math.round(used)));
    }
  }

  function showPrice(payload) {
    var item = document.querySelector('#ticker [data-symbol="' + String(payload.symbol).replace(/[^A-Z0-9]/g, "") + '"]');
    if (!item || typeof payload.price !== "number") return;
    var before = prices[payload.symbol];
    prices[payload.symbol] = payload.price;
    item.querySelector(".ticker-price").textContent = payload.price.toFixed(2);
    var change = item.querySelector(".ticker-change");
    if (before === undefined) return;
    var up = payload.price >= before;
    change.className = "ticker-change small " + (up ? "price-up" : "price-down");
    change.textContent = (up ? "▲ " : "▼ ") + Math.abs(payload.price - before).toFixed(2);
  }

  /* Producers may use any number of topics (user.<id>...): keep the counts of the busiest. */
  function forgetRareTopics() {
    var topics = Object.keys(perTopic);
    if (topics.length <= MAX_TOPICS) return;
    topics.sort(function (a, b) { return perTopic[a] - perTopic[b]; })
      .slice(0, topics.length - MAX_TOPICS)
      .forEach(function (topic) { delete perTopic[topic]; });
  }

  function showCounts(event) {
    total += 1;
    perTopic[event.topic] = (perTopic[event.topic] || 0) + 1;
    forgetRareTopics();
    text("stat-events", String(total));
    var time = new Date(event.timestamp);
    text("stat-last", isNaN(time) ? "–" : time.toLocaleTimeString());
    text("stat-last-topic", event.topic + " · " + event.type);
    var list = document.getElementById("topic-counts");
    list.textContent = "";
    Object.keys(perTopic).sort(function (a, b) { return perTopic[b] - perTopic[a]; }).slice(0, 6)
      .forEach(function (topic) {
        var li = document.createElement("li");
        li.className = "d-flex justify-content-between";
        var name = document.createElement("span");
        name.textContent = topic;
        var value = document.createElement("span");
        value.className = "fw-semibold";
        value.textContent = String(perTopic[topic]);
        li.appendChild(name);
        li.appendChild(value);
        list.appendChild(li);
      });
  }

  var stream = window.Beacon.bindStatus(new window.Beacon.Stream({
    onEvent: function (event) {
      showCounts(event);
      if (event.topic === "metrics.system") showMetrics(event.payload);
      else if (event.topic === "ticker") showPrice(event.payload);
    },
    onReset: function () {
      loads = [];
      total = 0;
      perTopic = {};
      text("stat-events", "0");
      drawChart();
    }
  }));
  drawChart();
  stream.start();
})();
