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

self.addEventListener("notificationclick", (event) => {
  const notification = event.notification;
  const data = notification.data || {};
  const day = reminderDay(data.day);
  notification.close();
  if (event.action === "done" && day) {
    event.waitUntil(markDoneFromNotification(day));
    return;
  }
  event.waitUntil(openReminder(day ? `/day/${day}` : "/"));
});
