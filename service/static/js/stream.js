/* Beacon's stream client: one live connection per page, no framework.

   new Beacon.Stream({topics, types, onEvent, onReset, onStatus}).start()

   - Tries the transports the deployment allows (<meta name="stream-transports">, from
     STREAM_TRANSPORTS) in that order: Server-Sent Events, WebSocket, polling. A transport that
     fails before it opens hands over to the next; one that worked and dropped is retried.
   - Reconnects with exponential backoff and full jitter (a restarted server is not stormed),
     and resumes after the last event id it saw (Last-Event-ID, last_event_id, after=).
   - A `reset` (the server could not replay what was missed) goes to onReset: the page reloads
     what it shows. A silent connection (no event or heartbeat for two heartbeats) is replaced.
   - 401 (signed out), 403 and 422 (a bad filter) stop it: retrying cannot help.
   SSE is read with fetch() rather than EventSource: EventSource needs a listener per event
   name (the event's type, unknown in advance), hides HTTP statuses and retries on its own. */
(function () {
  "use strict";

  var BASE_DELAY_MS = 500;
  var MAX_DELAY_MS = 15000;
  var POLL_EVERY_MS = 1000;
  var STABLE_MS = 10000; // open this long: the next drop starts the backoff afresh
  var LABELS = { sse: "SSE", ws: "WebSocket", poll: "Polling" };
  var FATAL = { 401: "signed out", 403: "not allowed", 422: "bad filter" };

  function meta(name) {
    var element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.content : "";
  }

  function query(params) {
    var search = new URLSearchParams();
    Object.keys(params).forEach(function (key) {
      if (params[key] !== null && params[key] !== undefined && params[key] !== "") {
        search.set(key, String(params[key]));
      }
    });
    var text = search.toString();
    return text ? "?" + text : "";
  }

  function isEnvelope(data) {
    return data !== null && typeof data === "object" && typeof data.id === "number" &&
      typeof data.topic === "string";
  }

  /* ---- transports: open(stream, handlers) → {close()} ---------------------------------- */

  function openSse(stream, on) {
    var controller = new AbortController();
    var headers = { Accept: "text/event-stream" };
    if (stream.lastId !== null) headers["Last-Event-ID"] = String(stream.lastId);
    fetch("/stream/events" + query({ topics: stream.topics, types: stream.types }), {
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal
    }).then(function (response) {
      if (!response.ok || !response.body) {
        on.closed({ status: response.status });
        return null;
      }
      on.opened();
      return readSse(response.body.getReader(), on).then(function () {
        on.closed({});
      });
    }).catch(function () {
      on.closed({}); // network error, or our own abort (then closed() is a no-op)
    });
    return { close: function () { controller.abort(); } };
  }

  function readSse(reader, on) {
    var decoder = new TextDecoder();
    var buffer = "";
    var block = { event: "message", data: [] };
    function dispatch() {
      if (block.data.length) {
        var data = null;
        try {
          data = JSON.parse(block.data.join("\n"));
        } catch (error) {
          data = null;
        }
        if (isEnvelope(data)) on.event(data);
        else if (block.event === "reset") on.reset(data && data.reason);
        else if (block.event === "close") on.ending(data && data.reason);
      }
      block = { event: "message", data: [] };
    }
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return null;
        on.activity();
        buffer += decoder.decode(chunk.value, { stream: true });
        var lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop();
        lines.forEach(function (line) {
          if (line === "") return dispatch();
          if (line.charAt(0) === ":") return null; // a heartbeat comment
          var colon = line.indexOf(":");
          var field = colon < 0 ? line : line.slice(0, colon);
          var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") block.event = value;
          else if (field === "data") block.data.push(value);
          return null;
        });
        return pump();
      });
    }
    return pump();
  }

  function openWs(stream, on) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/stream/ws" +
      query({ topics: stream.topics, types: stream.types, last_event_id: stream.lastId });
    var socket = new WebSocket(url);
    socket.onopen = function () { on.opened(); };
    socket.onmessage = function (message) {
      on.activity();
      var data = null;
      try {
        data = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (isEnvelope(data)) on.event(data);
      else if (data && data.event === "reset") on.reset(data.reason);
    };
    socket.onclose = function (close) { on.closed({ reason: close.reason }); };
    return { close: function () { socket.onclose = null; socket.close(1000); } };
  }

  function openPoll(stream, on) {
    var controller = new AbortController();
    var timer = null;
    var open = false;
    var closed = false;
    function tick() {
      var params = { topics: stream.topics, types: stream.types, after: stream.lastId };
      fetch("/api/v1/events" + query(params), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
        signal: controller.signal
      }).then(function (response) {
        if (!response.ok) return on.closed({ status: response.status });
        return response.json().then(function (body) {
          if (closed) return null;
          if (!open) {
            open = true;
            on.opened();
          }
          on.activity();
          if (body.reset) on.reset("resume-point-unavailable");
          body.events.forEach(on.event);
          // Resume after what the server looked at, shown or filtered out (null: nothing yet).
          if (body.next !== null && body.next !== undefined) stream.lastId = body.next;
          timer = window.setTimeout(tick, body.events.length ? 0 : POLL_EVERY_MS);
          return null;
        });
      }).catch(function () {
        on.closed({});
      });
    }
    tick();
    return {
      close: function () {
        closed = true;
        window.clearTimeout(timer);
        controller.abort();
      }
    };
  }

  var TRANSPORTS = { sse: openSse, ws: openWs, poll: openPoll };

  /* ---- the client ----------------------------------------------------------------------- */

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
    this.state = state;
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
      if (openedAt === null) {
        self.index = (self.index + 1) % self.transports.length; // hand over to the next
      } else if (Date.now() - openedAt > STABLE_MS) {
        self.attempt = 0;
      }
      self.schedule();
    }
    this.lost = closed;
    this.connection = TRANSPORTS[this.transport()](this, {
      opened: function () {
        if (!current()) return;
        openedAt = Date.now();
        self.status("open");
        self.touch();
      },
      activity: function () { if (current()) self.touch(); },
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
      ending: function () { /* the server ends the stream (shutdown, revoked, slow) */ },
      closed: closed
    });
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
