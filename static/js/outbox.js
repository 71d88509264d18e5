/* Closer's offline outbox, shared by the page (a <script>) and the service worker
   (importScripts), so both read and replay the same queue. Needs static/js/common.js first.

   Each write made while the server cannot be reached is stored in IndexedDB as
   { seq, id, url, fields, createdAt, attempts }: `seq` is the store's own counter (the replay
   order), `id` is a client UUID that is also sent as the write's `key`, the server's
   idempotency key, so a write replayed twice is applied once.

   Replay walks the queue in order and stops at the first write that cannot be delivered yet
   (network down, 5xx, 429), so a later write never overtakes an earlier one. A 400 may be an
   expired or missing CSRF token: we fetch a fresh one from /csrf-token and retry once. Any
   other 4xx is a refusal for good: the entry is dropped and a notice is kept for the page to
   show (with the reflection's text, so nothing vanishes unseen). Server errors (5xx, 429)
   keep the entry, but never forever: after MAX_ATTEMPTS answered failures spread over more
   than GIVE_UP_AFTER_MS it is dropped with a notice too. Network failures do not count: a
   phone may be offline for days. Replays are driven by events (start, `online`, `sync`, a
   new write), never by a loop, so a broken server is not hammered.

   IndexedDB is not a cache: nothing here is ever deleted by a service-worker update. */
"use strict";

(function (scope) {
  var DB_NAME = "closer";
  var DB_VERSION = 1;
  var OUTBOX = "outbox";
  var META = "meta";
  var NOTICES = "notices";
  var MAX_ATTEMPTS = 10;
  var GIVE_UP_AFTER_MS = 3 * 24 * 3600 * 1000;
  var SEND_TIMEOUT_MS = 15000;
  var CHANNEL = "closer-outbox";
  var LOCK = "closer-outbox-replay";

  var dbPromise = null;

  function openDb() {
    if (dbPromise) return dbPromise;
    dbPromise = new Promise(function (resolve, reject) {
      var request = scope.indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) {
          var store = db.createObjectStore(OUTBOX, { keyPath: "seq", autoIncrement: true });
          store.createIndex("id", "id", { unique: true });
        }
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META, { keyPath: "name" });
        if (!db.objectStoreNames.contains(NOTICES)) {
          db.createObjectStore(NOTICES, { keyPath: "seq", autoIncrement: true });
        }
      };
      request.onsuccess = function () {
        var db = request.result;
        // A newer version of this file (in another tab or a new worker) wants to upgrade:
        // let it, and reopen on next use.
        db.onversionchange = function () { db.close(); dbPromise = null; };
        // Closed by the browser (storage cleared, "delete everything" in another tab): open
        // afresh on next use instead of failing on a dead connection.
        db.onclose = function () { dbPromise = null; };
        resolve(db);
      };
      request.onerror = function () { dbPromise = null; reject(request.error); };
      request.onblocked = function () { /* waits for the other connection to close */ };
    });
    return dbPromise;
  }

  // Run fn(stores...) in one transaction; resolves with fn's result once it has committed.
  function tx(names, mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(names, mode);
        var result;
        t.oncomplete = function () { resolve(result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error || new Error("transaction aborted")); };
        var stores = names.map(function (n) { return t.objectStore(n); });
        result = fn.apply(null, stores);
      });
    }).then(function (value) {
      // fn may hand back an IDBRequest; its result is ready once the transaction completed.
      return value && typeof value === "object" && "readyState" in value ? value.result : value;
    });
  }

  function uuid() {
    if (scope.crypto && scope.crypto.randomUUID) return scope.crypto.randomUUID();
    var b = scope.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  var channel = typeof scope.BroadcastChannel === "function" ? new scope.BroadcastChannel(CHANNEL) : null;
  var listeners = [];

  // Tell every page and the worker (and ourselves) that the outbox changed.
  function announce(detail) {
    if (channel) channel.postMessage(detail);
    listeners.forEach(function (fn) { try { fn(detail); } catch (e) { /* a listener's bug is not ours */ } });
  }

  function onChange(fn) {
    listeners.push(fn);
    if (channel) channel.addEventListener("message", function (event) { fn(event.data); });
  }

  /* Add a write. `fields` are the form fields (key, csrf_token, text...); a missing key gets a
     fresh UUID. Resolves with the stored entry. */
  function add(url, fields) {
    fields = Object.assign({}, fields || {});
    if (!fields.key) fields.key = uuid();
    var entry = { id: fields.key, url: url, fields: fields, createdAt: Date.now(), attempts: 0 };
    return tx([OUTBOX], "readwrite", function (store) {
      var index = store.index("id");
      var found = index.getKey(entry.id);
      found.onsuccess = function () {
        if (found.result === undefined) store.add(entry); // the same key twice is one write
      };
    }).then(function () {
      announce({ type: "queued", url: url });
      return entry;
    });
  }

  function all() { return tx([OUTBOX], "readonly", function (store) { return store.getAll(); }); }
  function count() { return tx([OUTBOX], "readonly", function (store) { return store.count(); }); }

  function remove(seq) { return tx([OUTBOX], "readwrite", function (store) { store.delete(seq); }); }
  function update(entry) { return tx([OUTBOX], "readwrite", function (store) { store.put(entry); }); }

  function getMeta(name) {
    return tx([META], "readonly", function (store) { return store.get(name); }).then(function (row) {
      return row ? row.value : undefined;
    });
  }

  function setMeta(name, value) {
    return tx([META], "readwrite", function (store) { store.put({ name: name, value: value }); });
  }

  function addNotice(notice) {
    return tx([NOTICES], "readwrite", function (store) { store.add(notice); });
  }

  // Notices for the page to show once: read and removed in one transaction.
  function takeNotices() {
    return tx([NOTICES], "readwrite", function (store) {
      var request = store.getAll();
      request.onsuccess = function () { store.clear(); };
      return request;
    });
  }

  function rememberToken(token) {
    if (token) return setMeta("csrf_token", token);
    return Promise.resolve();
  }

  function fetchToken() {
    return scope.fetch(scope.Closer.url("csrf"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("no token (" + response.status + ")");
        return response.json();
      })
      .then(function (data) {
        return rememberToken(data.token).then(function () { return data.token; });
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
    return getMeta("csrf_token").then(function (stored) {
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
      return addNotice({
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
      return all().then(function (entries) {
        var i = 0;
        function next() {
          if (i >= entries.length) return summary;
          var entry = entries[i++];
          return send(entry).then(function (result) {
            if (result.outcome === "sent") {
              summary.sent.push(entry.url);
              return remove(entry.seq).then(next);
            }
            function drop() {
              summary.rejected += 1;
              return rejectedNotice(entry, result.response).then(function () { return remove(entry.seq); }).then(next);
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
            return update(entry).then(function () { return summary; });
          });
        }
        return next();
      });
    }).then(function (summary) {
      if (summary.sent.length || summary.rejected) {
        announce({ type: "replayed", sent: summary.sent, rejected: summary.rejected, pending: summary.pending });
      }
      return summary;
    });
  }

  scope.CloserOutbox = {
    add: add,
    all: all,
    count: count,
    replay: replay,
    onChange: onChange,
    takeNotices: takeNotices,
    rememberToken: rememberToken,
    uuid: uuid,
    MAX_ATTEMPTS: MAX_ATTEMPTS,
    GIVE_UP_AFTER_MS: GIVE_UP_AFTER_MS
  };
})(self);
