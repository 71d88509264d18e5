/* Closer's service worker. The server prepends VERSION and PRECACHE (see blueprints/pwa.py). */
"use strict";

self.addEventListener("install", (event) => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

/* ---------------------------------------------------------------------------------------
   Push reminders: the `push` and `notificationclick` handlers live below this line.
   (Owned by the reminders work; the offline work keeps above this line.)
   --------------------------------------------------------------------------------------- */
