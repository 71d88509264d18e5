/* The service worker's caches (importScripts): answering requests, and keeping the offline
   pages fresh.
   - static files: cache first (their URLs carry a content hash and never change);
   - pages: network first with a short timeout, then the cached copy, then the offline page;
   - offline, today's URL is the cached card of the device's current local date, so opening
     the app three days after the last online visit shows day +3;
   - after each online visit (the page sends VISITED) the coming week, the library, progress,
     settings and about are fetched again into the pages cache. */
"use strict";

const CACHE_PREFIX = "closer-";
const STATIC_CACHE = `${CACHE_PREFIX}static-${VERSION}`;
const PAGES_CACHE = `${CACHE_PREFIX}pages-${VERSION}`;
const NETWORK_TIMEOUT_MS = 3000;
const REFRESH_INTERVAL_MS = 60 * 1000; // at most one full refresh a minute
// Left to the browser entirely: the worker itself, tokens and the export download.
const PASS_THROUGH = new Set([URLS.worker, URLS.csrf, URLS.export]);
// Pages never kept offline (the delete flow): network, else the offline page.
const NEVER_CACHE = new Set([URLS.deleteConfirm, URLS.deleted]);

/* ---- answering requests ---- */

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

// A page the server sends with `no-store` (a device code, a restore preview) is about one
// moment and may hold a secret: never kept offline, whatever its path.
function cacheablePage(response, url) {
  return (
    !NEVER_CACHE.has(url.pathname) &&
    !/no-store/i.test(response.headers.get("Cache-Control") || "") &&
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
    // Slow, and nothing cached: waiting for the network is still better than the offline page.
    try {
      return await network;
    } catch (error) {
      /* fall through to the offline page */
    }
  }
  return (await caches.match(URLS.offline, { cacheName: STATIC_CACHE })) || Response.error();
}

async function cachedPage(url) {
  const cache = await caches.open(PAGES_CACHE);
  if (url.pathname === URLS.today) {
    // The user's date now, not the date of the last online visit.
    const day = localDate(new Date(Date.now()), await userZone());
    const today = await cache.match(url.origin + Closer.dayUrl("day", day));
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

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // writes go to the network; the page queues failures
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || PASS_THROUGH.has(url.pathname)) return;
  if (url.pathname.startsWith(URLS.static)) {
    event.respondWith(staticFile(request, url));
  } else if (request.mode === "navigate") {
    event.respondWith(page(event, url));
  } else if (url.pathname === URLS.manifest) {
    event.respondWith(networkOrCache(request, STATIC_CACHE));
  }
});

/* ---- keeping the offline pages fresh ---- */

let lastRefresh = { at: 0, day: null, done: Promise.resolve() };

// The day a page's visit reports: worked out here from the page's clock and the zone its
// "today" follows ("" for the device's own), so the page itself never sets up Intl for it.
async function visitDay(data) {
  if (Closer.isDay(data.today)) return data.today;
  const zone = typeof data.zone === "string" ? data.zone : await userZone();
  return localDate(new Date(Number.isFinite(data.now) ? data.now : Date.now()), zone);
}

// The coming week from `day` is fetched again unless that was done for the same day within
// the last minute. Either way, once the pages are in the cache, the page hears OFFLINE_READY.
async function refreshPages(day, force) {
  const recent = Date.now() - lastRefresh.at < REFRESH_INTERVAL_MS && lastRefresh.day === day;
  if (force || !recent) {
    const done = refreshUrls(offlineUrls(day));
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
// copy the older version's page (an old page beats an offline page on a train).
async function carryPages() {
  const day = localDate(new Date(Date.now()), await userZone());
  const failed = await refreshUrls(offlineUrls(day));
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
