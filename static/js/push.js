/* Closer's daily reminder on the page side: Remind me daily, permission only after the tap,
   subscribe and send the subscription to the server; turn off on this phone; the app badge.
   Plain JavaScript, no build step, no inline code (strict CSP). */
"use strict";

(function () {
  var C = self.Closer;
  var csrfToken = C.csrfToken;

  function panel() {
    return document.querySelector("[data-reminders]");
  }

  function note(root, name, text) {
    root.querySelectorAll("[data-push-note]").forEach(function (el) {
      if (el.dataset.pushNote === name) {
        if (text) el.textContent = text;
        el.hidden = false;
      } else if (el.dataset.pushNote === "error" || el.dataset.pushNote === "done") {
        el.hidden = true;
      }
    });
  }

  function isIOS() {
    var ua = navigator.userAgent || "";
    return /iPad|iPhone|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
  }

  function standalone() {
    return navigator.standalone === true ||
      (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches);
  }

  /* Why reminders cannot work here, or "" when they can. Never asks for anything. */
  function obstacle() {
    var capable = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
    if (isIOS() && !standalone()) return "ios";
    if (!capable) return "unsupported";
    if (Notification.permission === "denied") return "denied";
    return "";
  }

  function keyBytes(base64url) {
    var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function registration() {
    return navigator.serviceWorker.getRegistration(C.url("today")).then(function (reg) {
      return reg || navigator.serviceWorker.register(C.url("worker"), { scope: C.url("today") });
    }).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  function send(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.error || "The server said no (" + response.status + ").");
        return data;
      });
    });
  }

  /* Replace the panel with the server's fresh one, and let htmx wire its forms. */
  function refresh(root, message) {
    var from = root.querySelector('input[name="from"]');
    var url = C.url("pushPanel") + "?from=" + encodeURIComponent(from ? from.value : "settings");
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var fresh = holder.firstElementChild;
      if (!fresh) return;
      root.replaceWith(fresh);
      if (window.htmx && window.htmx.process) window.htmx.process(fresh);
      setup(fresh);
      if (message) note(fresh, "done", message);
    });
  }

  /* A time the person picked is kept even when reminders cannot start on this phone, as
     the form does without JavaScript: on another phone, or after a change of mind, the
     reminders come at that time. */
  function keepTime(form) {
    var time = form.querySelector('input[type="time"]');
    if (!time || !time.value || time.value === time.defaultValue) return;
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      body: new URLSearchParams(new FormData(form))
    }).then(function (response) {
      if (response.ok) time.defaultValue = time.value;
    }).catch(function () { /* offline: the field still shows it; the next tap tries again */ });
  }

  function subscribe(root, form) {
    var button = form.querySelector('button[type="submit"]');
    var key = root.dataset.vapidKey;
    var problem = obstacle();
    if (problem) { note(root, problem); keepTime(form); return; }
    if (!key) { note(root, "unconfigured"); keepTime(form); return; }
    if (button) button.disabled = true;
    // The permission prompt comes only now, straight from the person's tap.
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        if (permission === "denied") note(root, "denied");
        else note(root, "error", "Reminders need your permission to show a notification. Tap Remind me daily to be asked again.");
        keepTime(form);
        return null;
      }
      return registration().then(function (reg) {
        return reg.pushManager.getSubscription().then(function (existing) {
          return existing || reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
        });
      }).then(function (subscription) {
        var body = subscription.toJSON();
        var time = form.querySelector('[name="reminder_time"]');
        if (time && time.value) body.reminderTime = time.value;
        return send("POST", C.url("pushSubscriptions"), body);
      }).then(function (data) {
        updateBadge();
        return refresh(root, data.message);
      });
    }).catch(function (error) {
      note(root, "error", "We could not turn reminders on: " + (error && error.message ? error.message : error));
      keepTime(form);
    }).then(function () {
      if (button) button.disabled = false;
    });
  }

  function turnOffHere(root) {
    registration().then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) return { message: "This phone was not getting reminders." };
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().catch(function () { return false; }).then(function () {
        return send("DELETE", C.url("pushSubscriptions"), { endpoint: endpoint });
      });
    }).then(function (data) {
      clearBadge();
      return refresh(root, data.message);
    }).catch(function (error) {
      note(root, "error", "We could not turn reminders off: " + (error && error.message ? error.message : error));
    });
  }

  /* Show "this phone too" or "turn off on this phone" depending on this browser's state. */
  function reflectThisDevice(root) {
    if (obstacle() || !navigator.serviceWorker) return;
    navigator.serviceWorker.getRegistration(C.url("today")).then(function (reg) {
      return reg ? reg.pushManager.getSubscription() : null;
    }).then(function (subscription) {
      var here = root.querySelector("[data-push-off-here]");
      var missing = root.querySelector("[data-push-this-device]");
      if (here) here.hidden = !subscription;
      if (missing) missing.hidden = !!subscription || root.dataset.on !== "true";
    }).catch(function () { /* nothing to show */ });
  }

  function setup(root) {
    if (!root || root.dataset.pushReady) return;
    root.dataset.pushReady = "1";
    var problem = obstacle();
    if (problem === "ios" || problem === "unsupported") {
      // On the today page an offer this browser cannot take is no offer (on iPhone the
      // install panel says that reminders come with the Home Screen app).
      if (root.hasAttribute("data-offer")) root.dataset.unavailable = problem;
      note(root, problem);
      // A button that can only explain is not the page's main action.
      root.querySelectorAll("[data-push-subscribe] .primary").forEach(function (button) {
        button.classList.replace("primary", "secondary");
      });
    }
    var iosSteps = document.getElementById("install-ios");
    if (problem === "ios" && iosSteps && !iosSteps.hidden) {
      // The install panel on this page already shows the steps: point there, not repeat them.
      note(root, "ios", "On iPhone and iPad, reminders work once Closer is on your Home Screen: follow the steps under \u201cKeep Closer on your home screen\u201d, open Closer from there and tap Remind me daily again.");
    }
    if (problem === "denied" && root.dataset.on !== "true") note(root, "denied");
    root.addEventListener("submit", function (event) {
      var form = event.target.closest("[data-push-subscribe]");
      if (!form) return;
      event.preventDefault();
      subscribe(root, form);
    });
    root.addEventListener("click", function (event) {
      if (event.target.closest("[data-push-off]")) turnOffHere(root);
    });
    // "Turn off everywhere" is a plain htmx form; also forget this browser's subscription.
    var offAll = root.querySelector("[data-push-off-all]");
    if (offAll && navigator.serviceWorker) {
      offAll.addEventListener("submit", function () {
        navigator.serviceWorker.getRegistration(C.url("today")).then(function (reg) {
          return reg ? reg.pushManager.getSubscription() : null;
        }).then(function (s) { return s && s.unsubscribe(); }).catch(function () {});
        clearBadge();
      });
    }
    reflectThisDevice(root);
  }

  /* The app badge: today's practice is waiting (set) or done (cleared). */
  function clearBadge() {
    if (navigator.clearAppBadge) navigator.clearAppBadge().catch(function () {});
  }

  function todayDone() {
    var root = panel();
    var card = document.getElementById("card");
    var done = document.getElementById("done");
    if (card && done && root && card.dataset.day === root.dataset.today) {
      return done.classList.contains("is-done");
    }
    return root ? root.dataset.todayDone === "true" : null;
  }

  function updateBadge() {
    if (!navigator.setAppBadge) return;
    var root = panel();
    if (!root || root.dataset.on !== "true") return;
    var done = todayDone();
    if (done === null) return;
    if (done) clearBadge();
    else navigator.setAppBadge(1).catch(function () {});
  }

  // htmx 4 fires this on the form that swapped #done (or the new #done if the form left).
  document.addEventListener("htmx:after:swap", function () {
    var root = panel();
    if (root) setup(root);
    updateBadge();
  });

  function start() {
    var root = panel();
    setup(root);
    updateBadge();
  }

  self.Closer.whenParsed(start);
})();
