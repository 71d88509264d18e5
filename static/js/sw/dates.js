/* The service worker's calendar (importScripts): the user's local day as YYYY-MM-DD, in the
   zone their "today" follows, and the coming week from a day. */
"use strict";

const DAYS_OFFLINE = 7; // today and the next six days

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
async function userZone() {
  const root = await caches.match(new URL(URLS.today, self.location.origin).href);
  return (root && root.headers.get("Closer-Time-Zone")) || undefined;
}

function weekFrom(day) {
  const [y, m, d] = day.split("-").map(Number);
  const days = [];
  for (let i = 0; i < DAYS_OFFLINE; i += 1) {
    days.push(localDate(new Date(y, m - 1, d + i, 12))); // noon: no DST gap at midnight
  }
  return days;
}

// The pages that keep the coming week offline: today, each day's card, and the rest.
function offlineUrls(day) {
  return [URLS.today, ...weekFrom(day).map((d) => Closer.dayUrl("day", d)), ...PAGES];
}
