/* Closer's service worker. The server prepends VERSION, PRECACHE, PAGES and OUTBOX_SCRIPT
   (see blueprints/pwa.py), so any change to a static file changes these bytes and makes the
   browser install a new version.

   Caches are named closer-<kind>-<VERSION>; `activate` deletes only our own stale ones.
   - static files: cache first (their URLs carry a content hash and never change);
   - pages: network first with a short timeout, then the cached copy, then /offline;
   - offline, `/` is the cached page of the device's current local date, so opening the app
     three days after the last online visit shows day +3;
   - after each online visit (the page sends VISITED) the coming week, the library,
     progress, settings and about are fetched again into the pages cache.
   A new version waits until the page asks it to take over (SKIP_WAITING, sent when the user
   taps "Update available"), so HTML and JS of two versions never mix silently.
   The outbox (static/js/outbox.js) lives in IndexedDB, never in a cache: updates keep it. */
"use strict";

importScripts(OUTBOX_SCRIPT);

const CACHE_PREFIX = "closer-";
const STATIC_CACHE = `${CACHE_PREFIX}static-${VERSION}`;
const PAGES_CACHE = `${CACHE_PREFIX}pages-${VERSION}`;
const NETWORK_TIMEOUT_MS = 3000;
const DAYS_OFFLINE = 7; // today and the next six days
const REFRESH_INTERVAL_MS = 60 * 1000; // at most one full refresh a minute
const SYNC_TAG = "closer-outbox";
// Left to the browser entirely: the worker itself, tokens and the export download.
const PASS_THROUGH = new Set(["/service-worker.js", "/csrf-token", "/settings/export"]);
// Pages never kept offline (the delete flow): network, else the offline page.
const NEVER_CACHE = new Set(["/settings/delete", "/settings/deleted"]);

/* ---- dates: the device's local calendar day, as YYYY-MM-DD ---- */

function localDate(date, timeZone) {
  const options = { year: "numeric", month: "2-digit", day: "2-digit" };
  let format;
  try {
    format = new Intl.DateTimeFormat("en-CA", { ...options, timeZone: timeZone || undefined });
  } catch (error) {
    format = new Intl.DateTimeFormat("en-CA", options); // a zone this browser does not know
  }
  const parts = {};
  for (const { type, value } of format.formatToParts(date)) parts[type] = value;
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/* The zone the user's "today" follows (Settings), as the last online `/` said it
   (Closer-Time-Zone); none before the browser has confirmed one: then the device's. */
async function userZone(origin) {
  const root = await caches.match(`${origin}/`);
  return (root && root.headers.get("Closer-Time-Zone")) || undefined;
}

function isDay(text) {
  return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text);
}

function weekFrom(day) {
  const [y, m, d] = day.split("-").map(Number);
  const days = [];
  for (let i = 0; i < DAYS_OFFLINE; i += 1) {
    days.push(localDate(new Date(y, m - 1, d + i, 12))); // noon: no DST gap at midnight
  }
  return days;
}

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

/* ---- fetch: one small handler per kind of request ---- */

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // writes go to the network; the page queues failures
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || PASS_THROUGH.has(url.pathname)) return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(staticFile(request, url));
  } else if (request.mode === "navigate") {
    event.respondWith(page(event, url));
  } else if (url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkOrCache(request, STATIC_CACHE));
  }
});

async function staticFile(request, url) {
  const cache = await caches.open(STATIC_CACHE);
  const hit = await cache.match(request);
  if (hit) return hit;
  try {
    const response = await fetch(request);
    const immutable = (response.headers.get("Cache-Control") || "").includes("immutable");
    if (response.ok && immutable) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    // Offline and asked for another hash of a file we have: the current copy beats nothing.
    const any = await cache.match(url.pathname, { ignoreSearch: true });
    if (any) return any;
    throw error;
  }
}

function pageKey(url) {
  return url.origin + url.pathname;
}

function cacheablePage(response, url) {
  return (
    !NEVER_CACHE.has(url.pathname) &&
    response.status === 200 &&
    response.type === "basic" &&
    !response.redirected &&
    (response.headers.get("Content-Type") || "").startsWith("text/html")
  );
}

function timeout(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms, "timeout"));
}

async function page(event, url) {
  const network = fetch(event.request);
  // Registered before the race below, so this callback runs first and clones in time.
  const stored = network
    .then((response) => {
      if (!cacheablePage(response, url)) return undefined;
      const copy = response.clone(); // now, before the body is handed to the page
      return caches.open(PAGES_CACHE).then((cache) => cache.put(pageKey(url), copy));
    })
    .catch(() => {});
  event.waitUntil(stored);

  const first = await Promise.race([network.catch(() => "failed"), timeout(NETWORK_TIMEOUT_MS)]);
  if (first instanceof Response) return first;
  const cached = await cachedPage(url);
  if (cached) return cached;
  if (first === "timeout") {
    // Slow, and nothing cached: waiting for the network is still better than /offline.
    try {
      return await network;
    } catch (error) {
      /* fall through to the offline page */
    }
  }
  return (await caches.match("/offline", { cacheName: STATIC_CACHE })) || Response.error();
}

async function cachedPage(url) {
  const cache = await caches.open(PAGES_CACHE);
  if (url.pathname === "/") {
    // The user's date now, not the date of the last online visit.
    const day = localDate(new Date(Date.now()), await userZone(url.origin));
    const today = await cache.match(`${url.origin}/day/${day}`);
    if (today) return today;
  }
  return cache.match(pageKey(url));
}

async function networkOrCache(request, cacheName) {
  try {
    return await fetch(request);
  } catch (error) {
    const cached = await caches.match(request, { cacheName, ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

/* ---- keeping the offline pages fresh ---- */

let lastRefresh = { at: 0, day: null, done: Promise.resolve() };

// The day a page's visit reports: worked out here from the page's clock and the zone its
// "today" follows ("" for the device's own), so the page itself never sets up Intl; a page
// from before sends its local date instead.
async function visitDay(data) {
  if (isDay(data.today)) return data.today;
  const zone = typeof data.zone === "string" ? data.zone : await userZone(self.location.origin);
  return localDate(new Date(Number.isFinite(data.now) ? data.now : Date.now()), zone);
}

// The coming week from `day` is fetched again unless that was done for the same day within
// the last minute. Either way, once the pages are in the cache, the page hears OFFLINE_READY.
async function refreshPages(day, force) {
  const recent = Date.now() - lastRefresh.at < REFRESH_INTERVAL_MS && lastRefresh.day === day;
  if (force || !recent) {
    const done = refreshUrls(["/", ...weekFrom(day).map((d) => `/day/${d}`), ...PAGES]);
    lastRefresh = { at: Date.now(), day, done };
  }
  await lastRefresh.done;
  await tellClients({ type: "OFFLINE_READY", version: VERSION, today: day });
}

async function refreshUrls(urls, cacheName = PAGES_CACHE) {
  const cache = await caches.open(cacheName);
  const failed = [];
  const queue = [...new Set(urls)];
  // A few at a time: the server is shared with the person using the app right now.
  const workers = Array.from({ length: 4 }, async () => {
    while (queue.length) {
      const path = queue.shift();
      try {
        const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
        if (cacheablePage(response, new URL(path, self.location.origin))) {
          await cache.put(path, response);
        } else {
          failed.push(path);
        }
      } catch (error) {
        failed.push(path);
      }
    }
  });
  await Promise.all(workers);
  return failed;
}

// During an update: fetch the offline pages into the new cache; where the network fails,
// copy the older version's page (an old page beats an /offline page on a train).
async function carryPages() {
  const day = localDate(new Date(Date.now()), await userZone(self.location.origin));
  const urls = ["/", ...weekFrom(day).map((d) => `/day/${d}`), ...PAGES];
  const failed = await refreshUrls(urls);
  if (!failed.length) return;
  const target = await caches.open(PAGES_CACHE);
  const older = (await caches.keys()).filter(
    (name) => name.startsWith(`${CACHE_PREFIX}pages-`) && name !== PAGES_CACHE,
  );
  for (const name of older) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      if (!(await target.match(request))) await target.put(request, await cache.match(request));
    }
  }
}

async function tellClients(message) {
  const clients = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of clients) client.postMessage(message);
}

/* ---- the outbox: replay on sync, on request, and when a write is queued here ---- */

async function replayOutbox() {
  const summary = await self.CloserOutbox.replay();
  if (summary.sent.length) {
    const days = summary.sent
      .map((u) => (/^\/day\/(\d{4}-\d{2}-\d{2})\//.exec(u) || [])[1])
      .filter(Boolean);
    await refreshUrls(["/", "/progress", ...days.map((d) => `/day/${d}`)]);
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
   queueWrite(`/day/${date}/done`, {})) and try to deliver it at once. A missing key gets a
   fresh UUID; a missing CSRF token is fetched when the write is sent. */
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

/* ---------------------------------------------------------------------------------------
   Push reminders: the `push` and `notificationclick` handlers live below this line.
   (Owned by the reminders work; the offline work keeps above this line.)
   --------------------------------------------------------------------------------------- */

const REMINDER_ICON = "/static/icons/icon-192.png";

function reminderIcon() {
  // The hashed URL from the precache list when there is one (served from cache offline).
  const hashed = (typeof PRECACHE !== "undefined" ? PRECACHE : []).find((u) =>
    u.startsWith(`${REMINDER_ICON}?`),
  );
  return hashed || REMINDER_ICON;
}

function reminderDay(text) {
  return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text) ? text : null;
}

async function setReminderBadge(on) {
  try {
    if (on && self.navigator.setAppBadge) await self.navigator.setAppBadge(1);
    if (!on && self.navigator.clearAppBadge) await self.navigator.clearAppBadge();
  } catch (error) {
    /* the Badging API is a nicety */
  }
}

/* Every push shows a notification (browsers require it, and a silent push would be a
   broken promise). The payload only ever holds library text and a date; the URL is rebuilt
   from the date, never taken from the payload as is. */
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  const day = reminderDay(data.day);
  const title = typeof data.title === "string" && data.title ? data.title : "Closer";
  const options = {
    body:
      typeof data.body === "string" && data.body
        ? data.body
        : "Your two-minute practice for today is ready.",
    tag: day ? `closer-${day}` : "closer-reminder",
    icon: reminderIcon(),
    badge: reminderIcon(),
    data: { url: day ? `/day/${day}` : "/", day },
    renotify: false,
  };
  if (day && "maxActions" in Notification && Notification.maxActions > 0) {
    options.actions = [{ action: "done", title: "Done" }];
  }
  event.waitUntil(
    Promise.all([self.registration.showNotification(title, options), setReminderBadge(true)]),
  );
});

async function postDoneDirectly(day) {
  // Without the offline outbox: a fresh token, then the same write the card's button makes.
  const tokenResponse = await fetch("/csrf-token", { credentials: "same-origin" });
  const { token } = await tokenResponse.json();
  const body = new URLSearchParams({ key: self.crypto.randomUUID() });
  const response = await fetch(`/day/${day}/done`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": token, "HX-Request": "true" },
    body,
  });
  if (!response.ok) throw new Error(`done refused: ${response.status}`);
}

async function markDoneFromNotification(day) {
  if (typeof self.queueWrite === "function") {
    await self.queueWrite(`/day/${day}/done`, {});
  } else {
    await postDoneDirectly(day);
  }
  await setReminderBadge(false);
}

async function openReminder(url) {
  const target = new URL(url, self.location.origin);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).pathname === target.pathname && "focus" in client) {
      return client.focus();
    }
  }
  for (const client of windows) {
    if (new URL(client.url).origin === target.origin && "navigate" in client) {
      try {
        const moved = await client.navigate(target.href);
        return (moved || client).focus();
      } catch (error) {
        /* not controlled by us yet: open a window instead */
      }
    }
  }
  return self.clients.openWindow(target.href);
}

/* A tap on the notification opens that day's card; its "Done" action marks the day done
   without opening anything. A named function, so the browser tests can drive it with a real
   notification (no test can tap the phone's notification shade). */
function handleNotificationClick(notification, action) {
  const data = notification.data || {};
  const day = reminderDay(data.day);
  notification.close();
  if (action === "done" && day) return markDoneFromNotification(day);
  return openReminder(day ? `/day/${day}` : "/");
}
self.handleNotificationClick = handleNotificationClick;

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(handleNotificationClick(event.notification, event.action));
});
