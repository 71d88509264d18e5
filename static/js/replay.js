/* Delivering the outbox (static/js/outbox.js), on the page and in the service worker: after
   static/js/common.js and outbox.js.

   Replay walks the queue in order and stops at the first write that cannot be delivered yet
   (network down, 5xx, 429), so a later write never overtakes an earlier one. A 400 may be an
   expired or missing CSRF token: we fetch a fresh one and retry once. Any other 4xx is a
   refusal for good: the entry is dropped and a notice is kept for the page to show (with the
   reflection's text, so nothing vanishes unseen). Server errors (5xx, 429) keep the entry,
   but never forever: after MAX_ATTEMPTS answered failures spread over more than
   GIVE_UP_AFTER_MS it is dropped with a notice too. Network failures do not count: a phone
   may be offline for days. Replays are driven by events (start, `online`, `sync`, a new
   write), never by a loop, so a broken server is not hammered. One replay at a time across
   every page and the worker (Web Locks), so no write is sent twice at once. */
"use strict";

(function (scope) {
  var outbox = scope.CloserOutbox;
  var MAX_ATTEMPTS = 10;
  var GIVE_UP_AFTER_MS = 3 * 24 * 3600 * 1000;
  var SEND_TIMEOUT_MS = 15000;
  var LOCK = "closer-outbox-replay";

  function fetchToken() {
    return scope.fetch(scope.Closer.url("csrf"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("no token (" + response.status + ")");
        return response.json();
      })
      .then(function (data) {
        return outbox.rememberToken(data.token).then(function () { return data.token; });
      });
  }

  function post(entry, token) {
    var body = new URLSearchParams();
    Object.keys(entry.fields).forEach(function (name) {
      if (name !== "csrf_token" && name !== "key") body.append(name, entry.fields[name]);
    });
    body.set("key", entry.id);
    if (token) body.set("csrf_token", token);
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, SEND_TIMEOUT_MS) : null;
    return scope.fetch(entry.url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-CSRFToken": token || "", "HX-Request": "true" },
      signal: controller ? controller.signal : undefined
    }).finally(function () { if (timer) clearTimeout(timer); });
  }

  /* Send one entry. Resolves with "sent", "rejected" (4xx: drop it) or "later" (keep it),
     plus the response for the caller to learn from. */
  function send(entry) {
    var retried = false;
    function attempt(token) {
      return post(entry, token).then(function (response) {
        if (response.ok) return { outcome: "sent", response: response };
        if (response.status === 400 && !retried) {
          // Possibly a CSRF token the session no longer accepts: fetch a fresh one, retry once.
          retried = true;
          return fetchToken().then(attempt, function () { return { outcome: "later", network: true }; });
        }
        if (response.status === 429 || response.status >= 500) return { outcome: "later", response: response };
        return { outcome: "rejected", response: response };
      }, function () {
        return { outcome: "later", network: true };
      });
    }
    return outbox.getMeta("csrf_token").then(function (stored) {
      var token = stored || entry.fields.csrf_token;
      if (token) return attempt(token);
      return fetchToken().then(attempt, function () { return { outcome: "later", network: true }; });
    });
  }

  function describe(entry) {
    var write = scope.Closer.dayWrite(entry.url);
    return { day: write ? write.day : "", kind: write ? write.kind : "write" };
  }

  function rejectedNotice(entry, response) {
    return response.text().catch(function () { return ""; }).then(function (html) {
      var info = describe(entry);
      return outbox.addNotice({
        day: info.day,
        kind: info.kind,
        status: response.status,
        html: html.slice(0, 4000),
        text: entry.fields.text || "",
        at: Date.now()
      });
    });
  }

  function withLock(fn) {
    var locks = scope.navigator && scope.navigator.locks;
    if (locks && locks.request) return locks.request(LOCK, fn);
    // No Web Locks: at least never run two replays in this context at once.
    var run = withLock.chain.then(fn, fn);
    withLock.chain = run.catch(function () {});
    return run;
  }
  withLock.chain = Promise.resolve();

  /* Replay every entry in order. Resolves with { sent, rejected, pending } where sent lists
     the URLs delivered (so the caller can refresh cached pages). */
  function replay() {
    return withLock(function () {
      var summary = { sent: [], rejected: 0, pending: 0 };
      return outbox.all().then(function (entries) {
        var i = 0;
        function next() {
          if (i >= entries.length) return summary;
          var entry = entries[i++];
          return send(entry).then(function (result) {
            if (result.outcome === "sent") {
              summary.sent.push(entry.url);
              return outbox.remove(entry.seq).then(next);
            }
            function drop() {
              summary.rejected += 1;
              return rejectedNotice(entry, result.response).then(function () { return outbox.remove(entry.seq); }).then(next);
            }
            if (result.outcome === "rejected") return drop();
            summary.pending = entries.length - i + 1;
            if (result.network) return summary;
            // Keep it for later. Only answers from the server count towards giving up.
            entry.attempts = (entry.attempts || 0) + 1;
            entry.failingSince = entry.failingSince || Date.now();
            if (entry.attempts >= MAX_ATTEMPTS && Date.now() - entry.failingSince > GIVE_UP_AFTER_MS) {
              summary.pending = 0;
              return drop();
            }
            return outbox.update(entry).then(function () { return summary; });
          });
        }
        return next();
      });
    }).then(function (summary) {
      if (summary.sent.length || summary.rejected) {
        outbox.announce({ type: "replayed", sent: summary.sent, rejected: summary.rejected, pending: summary.pending });
      }
      return summary;
    });
  }

  outbox.replay = replay;
  outbox.MAX_ATTEMPTS = MAX_ATTEMPTS;
  outbox.GIVE_UP_AFTER_MS = GIVE_UP_AFTER_MS;
})(self);
