/* Closer's offline outbox: the queue in IndexedDB, shared by the page (a <script>) and the
   service worker (importScripts), so both read and replay the same queue. Delivering it is
   replay.js's job.

   Each write made while the server cannot be reached is stored as
   { seq, id, url, fields, createdAt, attempts }: `seq` is the store's own counter (the replay
   order), `id` is a client UUID that is also sent as the write's `key`, the server's
   idempotency key, so a write replayed twice is applied once. Every change is announced on a
   BroadcastChannel, so every page and the worker hear it.

   IndexedDB is not a cache: nothing here is ever deleted by a service-worker update. */
"use strict";

(function (scope) {
  var DB_NAME = "closer";
  var DB_VERSION = 1;
  var OUTBOX = "outbox";
  var META = "meta";
  var NOTICES = "notices";
  var CHANNEL = "closer-outbox";

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

  scope.CloserOutbox = {
    add: add,
    all: all,
    count: count,
    remove: remove,
    update: update,
    getMeta: getMeta,
    addNotice: addNotice,
    takeNotices: takeNotices,
    rememberToken: rememberToken,
    announce: announce,
    onChange: onChange,
    uuid: uuid
  };
})(self);
