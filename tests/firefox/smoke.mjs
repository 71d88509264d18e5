/* Firefox smoke test: Closer's PWA flows in Debian's Firefox ESR, driven by puppeteer-core
   over WebDriver BiDi. Run by tests/browser/test_firefox.py, which owns the server and the
   database: `node tests/firefox/smoke.mjs <base-url> <reflection>` (the text to type, emoji
   and all; FIREFOX_PATH overrides the binary).

   The two talk in JSON lines. After each step this script prints {"step": ..., facts} on
   stdout and waits for one line on stdin: "go" to carry on (the driver has checked the
   database, or stopped or restarted the server), anything else to stop. Failures print
   {"error": ...} and exit 1. puppeteer never downloads a browser: puppeteer-core has none.

   Waits use what the page exposes whatever loads its scripts: `window.htmx` (htmx wired)
   and `navigator.serviceWorker.controller` (the worker serves this page). */
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const [BASE, REFLECTION] = process.argv.slice(2);
const FIREFOX = process.env.FIREFOX_PATH || "/usr/bin/firefox-esr";
const STEP_TIMEOUT_MS = 15000;

const STARTED = Date.now();
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function report(step, facts = {}) {
  const seconds = (Date.now() - STARTED) / 1000;
  process.stdout.write(JSON.stringify({ step, seconds, ...facts }) + "\n");
  const answer = await lines.next();
  if (answer.done || answer.value.trim() !== "go") throw new Error(`driver stopped after ${step}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function htmxWired(page) {
  try {
    await page.waitForFunction(() => typeof window.htmx === "object" && window.htmx !== null, {
      timeout: STEP_TIMEOUT_MS,
    });
  } catch (error) {
    const state = await page
      .evaluate(() => ({ url: location.href, scrollY, paints: performance.getEntriesByType("paint").length }))
      .catch(() => ({}));
    throw new Error(`htmx never wired the page ${JSON.stringify(state)}: ${error.message}`);
  }
}

/* Reload where the page is: Firefox records no first-contentful-paint for a page restored
   scrolled down, so this guards boot.js's one-second fallback (without it, htmx and the
   outbox never start after such a reload). */
async function reload(page) {
  await page.reload({ waitUntil: "load" });
  await htmxWired(page);
}

// Until a worker is active and controls this page. A first visit is not controlled until the
// worker claims it; where it does not, a reload is (that is how a second visit looks).
async function workerInControl(page) {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  let reloaded = false;
  try {
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, { timeout: 5000 });
  } catch {
    reloaded = true;
    await page.reload({ waitUntil: "load" });
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, {
      timeout: STEP_TIMEOUT_MS,
    });
  }
  await htmxWired(page);
  return reloaded;
}

// Until the worker's pages cache holds this day's page, done and with the reflection: what
// the app will show when opened with the server away (the worker refreshes it after a write).
async function cachedDayIsDone(page, day) {
  await page.waitForFunction(
    async (path, reflection) => {
      for (const name of await caches.keys()) {
        const hit = await (await caches.open(name)).match(path);
        if (!hit) continue;
        const doc = new DOMParser().parseFromString(await hit.text(), "text/html");
        const text = doc.querySelector("#reflection-text");
        if (doc.querySelector("#done.is-done") && text && text.value === reflection) return true;
      }
      return false;
    },
    { timeout: STEP_TIMEOUT_MS, polling: 100 },
    `/day/${day}`,
    REFLECTION,
  );
}

const cardDay = (page) => page.$eval("#card", (card) => card.dataset.day);
const isDone = (page) => page.$eval("#done", (done) => done.classList.contains("is-done"));
const toggleLabel = (page) => page.$eval("#done-toggle", (button) => button.textContent.trim());

async function firstVisit(page) {
  const response = await page.goto(`${BASE}/`, { waitUntil: "load" });
  check(response && response.ok(), `first visit answered ${response && response.status()}`);
  const reloaded = await workerInControl(page);
  const day = await cardDay(page);
  check(/^\d{4}-\d{2}-\d{2}$/.test(day || ""), `no day on the card: ${day}`);
  check(!(await isDone(page)), "a first visit is not done yet");
  await report("worker", { day, reloaded });
  return day;
}

// Done through htmx: the card changes in place, the page is never loaded again.
async function doneThroughHtmx(page) {
  await page.evaluate(() => {
    window.closerSmokeSamePage = true;
  });
  check((await toggleLabel(page)) === "Done", "the card offers Done");
  await page.click("#done-toggle");
  await page.waitForSelector("#done.is-done #done-toggle", { timeout: STEP_TIMEOUT_MS });
  check((await toggleLabel(page)) === "Undo", "the done card offers Undo");
  const samePage = await page.evaluate(() => window.closerSmokeSamePage === true);
  check(samePage, "Done loaded a new page instead of swapping the card");
  await report("done", { samePage });
}

async function reflectionSurvivesReload(page) {
  await page.click("#reflection-text");
  await page.type("#reflection-text", REFLECTION);
  const typed = await page.$eval("#reflection-text", (area) => area.value);
  check(typed === REFLECTION, `typed ${JSON.stringify(typed)}`);
  await page.click("#reflection-save");
  await page.waitForSelector("#reflection .saved", { timeout: STEP_TIMEOUT_MS });
  await reload(page);
  const afterReload = await page.$eval("#reflection-text", (area) => area.value);
  check(afterReload === REFLECTION, `after reload: ${JSON.stringify(afterReload)}`);
  check(await isDone(page), "still done after the reload");
  await report("reflection", { afterReload });
}

// The server is taken away (Firefox's offline mode would not cover the worker's own
// fetches): the worker serves the app from its cache and the tap waits in the outbox.
async function undoWithServerAway(page, day) {
  await cachedDayIsDone(page, day);
  await report("cached");
  const response = await page.goto(`${BASE}/`, { waitUntil: "load" });
  check(response && response.ok(), "the worker serves the app with the server away");
  await workerInControl(page);
  check((await cardDay(page)) === day, "offline, the card is still today's");
  check(await isDone(page), "offline, the cached card shows the day done");
  const text = await page.$eval("#reflection-text", (area) => area.value);
  check(text === REFLECTION, `offline reflection: ${JSON.stringify(text)}`);
  await page.click("#done-toggle");
  await page.waitForFunction(
    () => document.querySelector("#done-toggle")?.textContent.trim() === "Done",
    { timeout: STEP_TIMEOUT_MS },
  );
  await page.waitForFunction(() => CloserOutbox.count().then((n) => n === 1), {
    timeout: STEP_TIMEOUT_MS,
  });
  const [queued] = await page.evaluate(() => CloserOutbox.all());
  check(queued.url === `/day/${day}/undo`, `queued ${queued.url}`);
  await report("queued", { key: queued.id, url: queued.url });
}

// The server is back: opening the app again delivers the queued Undo, once.
async function syncedWhenBack(page) {
  await reload(page);
  await page.waitForFunction(() => CloserOutbox.count().then((n) => n === 0), {
    timeout: STEP_TIMEOUT_MS,
    polling: 100,
  });
  await reload(page);
  check(!(await isDone(page)), "the server's page shows the day undone");
  await report("synced", { label: await toggleLabel(page) });
}

async function main() {
  check(BASE && REFLECTION, "usage: node tests/firefox/smoke.mjs <base-url> <reflection>");
  const browser = await puppeteer.launch({
    browser: "firefox",
    protocol: "webDriverBiDi",
    executablePath: FIREFOX,
    headless: true,
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (error) => errors.push(String(error && error.message)));
    const day = await firstVisit(page);
    await doneThroughHtmx(page);
    await reflectionSurvivesReload(page);
    await undoWithServerAway(page, day);
    await syncedWhenBack(page);
    check(errors.length === 0, `uncaught errors in the page: ${errors.join(" | ")}`);
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(JSON.stringify({ error: String(error && (error.stack || error)) }) + "\n");
    process.exit(1);
  },
);
