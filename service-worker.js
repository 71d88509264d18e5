/* Closer's service worker: its life cycle, messages from pages, and the outbox's replay. The
   server prepends VERSION, PRECACHE, PAGES, URLS and WORKER_SCRIPTS (blueprints/pwa.py):
   URLS are built with url_for, and every file below is imported by its hashed URL, so any
   change to a static file changes these bytes and makes the browser install a new version.
   Each job lives in its own file:
   - static/js/common.js: the URL helpers shared with the pages;
   - static/js/outbox.js and replay.js: the outbox in IndexedDB and its delivery, shared with
     the pages (IndexedDB, never a cache: updates keep it);
   - static/js/sw/dates.js: the user's local day and the coming week;
   - static/js/sw/pages.js: the fetch handler, the caches and keeping offline pages fresh;
   - static/js/sw/reminders.js: push reminders and the notification's Done action.
   Caches are named closer-<kind>-<VERSION>; `activate` deletes only our own stale ones. A new
   version waits until the page asks it to take over (SKIP_WAITING, sent when the user taps
   "Update available"), so HTML and JS of two versions never mix silently. */
"use strict";

importScripts(...WORKER_SCRIPTS);

const SYNC_TAG = "closer-outbox";

/* ---- install, activate, messages ---- */

// A hashed URL (?v=<content hash>) never changes its bytes, so the copy the page has just
// put in the HTTP cache is the right one: no second download on a first visit. Anything
// else is revalidated with the server.
function precacheRequest(url) {
  const hashed = new URL(url, self.location.origin).searchParams.has("v");
  return new Request(url, { cache: hashed ? "default" : "no-cache" });
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(STATIC_CACHE);
      await cache.addAll(PRECACHE.map(precacheRequest));
      if (self.registration.active) {
        // An update: give the new version its own copy of the offline pages now, so that
        // activating it never leaves the phone with fewer pages than before.
        await carryPages();
      } else {
        // First install: no page runs an older version, so there is nothing to mix with.
        await self.skipWaiting();
      }
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([STATIC_CACHE, PAGES_CACHE]);
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && !keep.has(name)) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "SKIP_WAITING") {
    event.waitUntil(self.skipWaiting());
  } else if (data.type === "VISITED") {
    event.waitUntil(visitDay(data).then((day) => refreshPages(day, Boolean(data.force))));
  } else if (data.type === "REFRESH" && Array.isArray(data.urls)) {
    event.waitUntil(refreshUrls(data.urls.filter((u) => typeof u === "string" && u.startsWith("/"))));
  } else if (data.type === "REPLAY") {
    event.waitUntil(replayOutbox());
  }
});

/* ---- the outbox: replay on sync, on request, and when a write is queued here ---- */

async function replayOutbox() {
  const summary = await self.CloserOutbox.replay();
  if (summary.sent.length) {
    const days = summary.sent.map(Closer.dayWrite).filter(Boolean);
    await refreshUrls([URLS.today, URLS.progress, ...days.map((w) => Closer.dayUrl("day", w.day))]);
  }
  return summary;
}

async function requestSync() {
  try {
    if (self.registration.sync) await self.registration.sync.register(SYNC_TAG);
  } catch (error) {
    /* no Background Sync here: the page replays on `online` and on start */
  }
}

self.addEventListener("sync", (event) => {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil(
    replayOutbox().then((summary) => {
      // Rejecting asks the browser to fire `sync` again later, with its own back-off.
      if (summary.pending) throw new Error("writes still waiting for the network");
    }),
  );
});

/* Queue a write from the worker itself (the notification's "Done" action calls
   queueWrite(Closer.dayUrl("done", day), {})) and try to deliver it at once. A missing key
   gets a fresh UUID; a missing CSRF token is fetched when the write is sent. */
async function queueWrite(url, fields) {
  const entry = await self.CloserOutbox.add(url, fields || {});
  await requestSync();
  try {
    await replayOutbox();
  } catch (error) {
    /* stays queued for the next sync, online event or app start */
  }
  return entry;
}
self.queueWrite = queueWrite;
