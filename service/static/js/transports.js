/* The three ways Beacon's pages receive events; stream.js chooses among them.

   Each transport is open(stream, on) → {close()}: it reads stream.topics, stream.types and
   stream.lastId (to resume), and reports through `on`: opened(), activity() (any byte,
   heartbeats included), event(envelope), reset(reason), ending(reason) and closed({status}).
   SSE is read with fetch() rather than EventSource: EventSource needs a listener per event
   name (the event's type, unknown in advance), hides HTTP statuses and retries on its own. */
(function () {
  "use strict";

  var POLL_EVERY_MS = 1000;

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
    socket.onopen = function () {
      on.opened();
      on.activity(); // the upgrade went through: nothing between us buffers this one
    };
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
    // Refused before the upgrade, a browser shows no HTTP status (only close code 1006):
    // stream.js then asks the polling endpoint why.
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

  /* Is the server there, and would it let this stream in? The status of the polling endpoint,
     which checks the same session and filters (0: no answer at all). */
  function probe(stream) {
    return fetch("/api/v1/events" + query({ topics: stream.topics, types: stream.types }), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.status;
    }, function () {
      return 0;
    });
  }

  window.Beacon = window.Beacon || {};
  window.Beacon.transports = { sse: openSse, ws: openWs, poll: openPoll };
  window.Beacon.probe = probe;
})();
