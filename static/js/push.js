/* Closer's daily reminder on the page side: Remind me daily, permission only after the tap,
   subscribe and send the subscription to the server. (Filled in by the reminders work.) */
"use strict";
