/* Closer's offline layer on the page side: service worker registration, the outbox,
   the offline badge, install and update prompts. (Filled in by the offline/PWA work.) */
"use strict";
