/* Run as a Worker by the first-visit zone report (static/js/app.js): the browser's time zone,
   and the date in it at the instant the page sends (the page's own clock). The first Intl
   call in a page sets up ICU, 25-90 ms on the bench machine and more on a slow phone; made
   here, it blocks no tap or paint on the page. */
"use strict";

onmessage = function (event) {
  var zone = "";
  var today = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    if (zone) today = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date(event.data));
  } catch (error) {
    /* no Intl or an unknown zone: report nothing */
  }
  postMessage({ zone: zone, today: today });
};
