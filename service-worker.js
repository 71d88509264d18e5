/* Closer's service worker. The server prepends VERSION and PRECACHE (see blueprints/pwa.py). */
"use strict";

self.addEventListener("install", (event) => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});
