/* The service worker's push reminders (importScripts): the `push` and `notificationclick`
   handlers. The payload only ever holds library text and a date; the URL is rebuilt from the
   date, never taken from the payload as is. */
"use strict";

async function setReminderBadge(on) {
  try {
    if (on && self.navigator.setAppBadge) await self.navigator.setAppBadge(1);
    if (!on && self.navigator.clearAppBadge) await self.navigator.clearAppBadge();
  } catch (error) {
    /* the Badging API is a nicety */
  }
}

function reminderDay(text) {
  return Closer.isDay(text) ? text : null;
}

/* Every push shows a notification (browsers require it, and a silent push would be a
   broken promise). */
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
    icon: URLS.reminderIcon, // hashed, in the precache: shown offline too
    badge: URLS.reminderIcon,
    data: { url: day ? Closer.dayUrl("day", day) : URLS.today, day },
    renotify: false,
  };
  if (day && "maxActions" in Notification && Notification.maxActions > 0) {
    options.actions = [{ action: "done", title: "Done" }];
  }
  event.waitUntil(
    Promise.all([self.registration.showNotification(title, options), setReminderBadge(true)]),
  );
});

// The same write the card's button makes, through the outbox (queueWrite, service-worker.js):
// delivered exactly once, now or at the next sync.
async function markDoneFromNotification(day) {
  await self.queueWrite(Closer.dayUrl("done", day), {});
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
  return openReminder(day ? Closer.dayUrl("day", day) : URLS.today);
}
self.handleNotificationClick = handleNotificationClick;

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(handleNotificationClick(event.notification, event.action));
});
