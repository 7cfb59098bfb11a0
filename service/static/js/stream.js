/* Beacon's stream client: one live connection per page, no framework.

   new Beacon.Stream({topics, types, onEvent, onReset, onStatus}).start()

   - Tries the transports the deployment allows (<meta name="stream-transports">, from
     STREAM_TRANSPORTS) in that order: Server-Sent Events, WebSocket, polling. When one fails
     before anything arrived, the polling endpoint is asked: if the server answers, this
     transport is blocked on the way (a proxy) and the next takes over; if it does not, the
     server is away and the preferred transport is tried again once it is back. So an outage
     never leaves a page on a fallback for good.
   - Reconnects with exponential backoff and jitter (half the ceiling plus a random part, so a
     restarted server is not stormed), and resumes after the last event id it saw
     (Last-Event-ID, last_event_id, after=).
   - A `reset` (the server could not replay what was missed) goes to onReset: the page reloads
     what it shows. A silent connection (no event or heartbeat for two heartbeats) is replaced.
   - 401 (signed out), 403 and 422 (a bad filter) stop it: retrying cannot help.
   The transports themselves are in transports.js, loaded before this file. */
(function () {
  "use strict";

  var BASE_DELAY_MS = 500;
  var MAX_DELAY_MS = 15000;
  var STABLE_MS = 10000; // open this long: the next drop starts the backoff afresh
  var LABELS = { sse: "SSE", ws: "WebSocket", poll: "Polling" };
  var TRANSPORTS = window.Beacon.transports;
  var probe = window.Beacon.probe;
  var FATAL = { 401: "signed out", 403: "not allowed", 422: "bad filter" };

  function meta(name) {
    var element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.content : "";
  }

  function Stream(options) {
    this.topics = options.topics || "";
    this.types = options.types || "";
    this.onEvent = options.onEvent || function () {};
    this.onReset = options.onReset || function () {};
    this.onStatus = options.onStatus || function () {};
    var allowed = (options.transports || meta("stream-transports") || "sse,ws,poll").split(",");
    this.transports = allowed.map(function (t) { return t.trim(); }).filter(function (t) {
      return Object.prototype.hasOwnProperty.call(TRANSPORTS, t);
    });
    this.heartbeatMs = (parseFloat(meta("stream-heartbeat")) || 15) * 1000;
    this.lastId = null;
    this.index = 0;
    this.attempt = 0;
    this.reconnects = 0;
    this.connection = null;
    this.retryTimer = null;
    this.watchdog = null;
    this.running = false;
    this.generation = 0; // bumped by stop(): callbacks of an older connection are ignored
    var self = this;
    window.addEventListener("online", function () { self.retryNow(); });
    window.addEventListener("pagehide", function () { self.stop(); });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) self.start(); // back from the back/forward cache
    });
  }

  Stream.prototype.transport = function () {
    return this.transports[this.index];
  };

  Stream.prototype.status = function (state, reason) {
    this.onStatus({
      state: state,
      transport: this.transport(),
      label: LABELS[this.transport()],
      reconnects: this.reconnects,
      reason: reason || ""
    });
  };

  Stream.prototype.start = function () {
    if (this.running) return this;
    this.running = true;
    this.connect();
    return this;
  };

  Stream.prototype.stop = function (reason) {
    this.running = false;
    this.generation += 1;
    window.clearTimeout(this.retryTimer);
    window.clearTimeout(this.watchdog);
    if (this.connection) this.connection.close();
    this.connection = null;
    if (reason) this.status("stopped", reason);
  };

  /* A new filter: start again from now, on the first transport. */
  Stream.prototype.restart = function (topics, types) {
    this.stop();
    this.topics = topics || "";
    this.types = types || "";
    this.lastId = null;
    this.index = 0;
    this.attempt = 0;
    this.start();
  };

  Stream.prototype.retryNow = function () {
    if (!this.running || this.connection) return;
    window.clearTimeout(this.retryTimer);
    this.connect();
  };

  Stream.prototype.touch = function () {
    var self = this;
    window.clearTimeout(this.watchdog);
    this.watchdog = window.setTimeout(function () {
      // Nothing for two heartbeats: the connection is dead but nobody told us.
      if (self.connection) self.connection.close();
      if (self.lost) self.lost({});
    }, this.heartbeatMs * 2 + 5000);
  };

  Stream.prototype.connect = function () {
    var self = this;
    var openedAt = null;
    var heard = false; // anything arrived: the transport works through this network
    var finished = false;
    var generation = this.generation;
    function current() {
      return !finished && generation === self.generation;
    }
    this.status(this.reconnects ? "reconnecting" : "connecting");
    function closed(info) {
      if (!current()) return;
      finished = true;
      self.connection = null;
      self.lost = null;
      window.clearTimeout(self.watchdog);
      if (!self.running) return;
      if (FATAL[info.status]) {
        self.stop(FATAL[info.status]);
        return;
      }
      if (heard) {
        self.index = 0; // it worked, then dropped: the preferred transport first again
        if (Date.now() - openedAt > STABLE_MS) self.attempt = 0;
        self.schedule();
        return;
      }
      // Nothing arrived: the transport, or the whole server? Ask the polling endpoint.
      probe(self).then(function (status) {
        if (!self.running || generation !== self.generation) return;
        if (FATAL[status]) {
          self.stop(FATAL[status]);
          return;
        }
        // The server answers, so this transport is what fails here: the next takes over.
        // No answer: the server is away; keep to the preferred transport for its return.
        self.index = status === 200 ? (self.index + 1) % self.transports.length : 0;
        self.schedule();
      });
    }
    this.lost = closed;
    this.connection = TRANSPORTS[this.transport()](this, {
      opened: function () {
        if (!current()) return;
        openedAt = Date.now();
        self.status("open");
        self.touch();
      },
      activity: function () {
        if (!current()) return;
        heard = true;
        self.touch();
      },
      event: function (envelope) {
        if (!current()) return;
        if (self.lastId !== null && envelope.id <= self.lastId) return; // already shown
        self.lastId = envelope.id;
        self.onEvent(envelope);
      },
      reset: function (reason) {
        if (!current()) return;
        self.lastId = null; // the old resume point is useless now
        self.onReset(reason || "reset");
      },
      ending: function () { /* the server ends the stream; closed() follows */ },
      closed: closed
    });
    this.touch(); // a connection that never opens (a proxy holding it) is given up too
  };

  Stream.prototype.schedule = function () {
    var self = this;
    var ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, this.attempt));
    var delay = ceiling / 2 + Math.random() * ceiling / 2; // jitter: spread a reconnect storm
    this.attempt += 1;
    this.reconnects += 1;
    this.status("reconnecting");
    this.retryTimer = window.setTimeout(function () {
      if (self.running) self.connect();
    }, delay);
  };

  /* The status badge (templates/partials/macros.html: stream_badge) for a stream. */
  function bindStatus(stream) {
    var badge = document.getElementById("stream-status");
    var count = document.getElementById("stream-reconnects");
    var previous = stream.onStatus;
    stream.onStatus = function (status) {
      if (badge) {
        var text = {
          connecting: "Connecting · " + status.label,
          open: status.label + " · live",
          reconnecting: "Reconnecting · " + status.label,
          stopped: "Stopped · " + status.reason
        }[status.state];
        badge.setAttribute("data-state", status.state);
        badge.setAttribute("data-transport", status.transport);
        badge.querySelector(".stream-status-text").textContent = text;
      }
      if (count) count.textContent = String(status.reconnects);
      previous(status);
    };
    return stream;
  }

  window.Beacon = window.Beacon || {};
  window.Beacon.Stream = Stream;
  window.Beacon.bindStatus = bindStatus;
})();
