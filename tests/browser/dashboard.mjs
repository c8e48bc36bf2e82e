// The operator's console in real headless Chromium, as a new user meets it. Driven by
// tests/dashboard_browser.rs, which starts a node (the admin API with a token, the simulator,
// two demo bots) and passes: BOTVISOR_URL, BOTVISOR_TOKEN, SCREENSHOTS (a directory).
// Prints one line per step; exits 1 with what went wrong.
import puppeteer from "puppeteer-core";

const url = process.env.BOTVISOR_URL;
const token = process.env.BOTVISOR_TOKEN;
const shots = process.env.SCREENSHOTS;
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_TIMEOUT = 15000;

function step(name) {
  console.log(JSON.stringify({ step: name }));
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

/** The text of the bot row's cell `index` (0-based). */
function cell(page, bot, index) {
  return page.$eval(`#bots tr[data-bot="${bot}"] td:nth-child(${index + 1})`, (td) => td.innerText);
}

async function waitForCell(page, bot, index, expected) {
  await page.waitForFunction(
    (bot, index, expected) => {
      const td = document.querySelector(`#bots tr[data-bot="${bot}"] td:nth-child(${index + 1})`);
      return td && td.innerText.includes(expected);
    },
    { timeout: STEP_TIMEOUT },
    bot,
    index,
    expected,
  );
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    `--user-data-dir=${shots}/profile`],
});
let failed = null;
let page = null;
try {
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => { failed = failed || `a script error on the page: ${error.message}`; });

  step("a token-protected node asks for the token");
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("#token-panel:not([hidden])", { timeout: STEP_TIMEOUT });
  await shot(page, "01-token");
  await page.type("#token", "not-the-token");
  await page.click("#token-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#token-error").innerText.includes("refused"), { timeout: STEP_TIMEOUT });
  await page.$eval("#token", (input) => { input.value = ""; });
  await page.type("#token", token);
  await page.click("#token-form button[type=submit]");

  step("the page lists the demo bots, online");
  await page.waitForSelector("#main:not([hidden])", { timeout: STEP_TIMEOUT });
  for (const bot of ["demo-bot-1", "demo-bot-2"]) {
    await waitForCell(page, bot, 2, "online");
    await waitForCell(page, bot, 1, "online");
  }
  await page.waitForFunction(() => document.querySelector("#members tbody").innerText.includes("demo-bot-1"), { timeout: STEP_TIMEOUT });
  await shot(page, "02-bots");

  step("stop changes the state shown");
  await page.click('#bots tr[data-bot="demo-bot-1"] button[data-action="stop"]');
  await waitForCell(page, "demo-bot-1", 1, "stopped");
  await waitForCell(page, "demo-bot-1", 2, "offline");
  await shot(page, "03-stopped");

  step("start changes it back");
  await page.click('#bots tr[data-bot="demo-bot-1"] button[data-action="start"]');
  await waitForCell(page, "demo-bot-1", 1, "online");
  await waitForCell(page, "demo-bot-1", 2, "online");

  step("a running bot's capacity changes and its availability follows");
  await page.click('#bots tr[data-bot="demo-bot-2"] button[data-action="capacity"]');
  await page.waitForSelector('.capacity-form[data-bot="demo-bot-2"]', { timeout: STEP_TIMEOUT });
  const set = async (name, value) => {
    await page.$eval(`.capacity-form[data-bot="demo-bot-2"] input[name=${name}]`, (input) => { input.value = ""; });
    await page.type(`.capacity-form[data-bot="demo-bot-2"] input[name=${name}]`, value);
  };
  // Recommended 1 with one conversation open (the harness opened it): AWAY at once.
  await set("recommended", "1");
  await set("low_water", "0");
  await page.click('.capacity-form[data-bot="demo-bot-2"] button[type=submit]');
  await waitForCell(page, "demo-bot-2", 3, "/ 1 / 999");
  await waitForCell(page, "demo-bot-2", 3, "AWAY");
  await waitForCell(page, "demo-bot-2", 2, "online");
  await shot(page, "04-capacity");

  step("a bad capacity shows its problem");
  await page.click('#bots tr[data-bot="demo-bot-2"] button[data-action="capacity"]');
  await set("recommended", "5000");
  await page.click('.capacity-form[data-bot="demo-bot-2"] button[type=submit]');
  await page.waitForFunction(() => {
    const error = document.querySelector('.capacity-form[data-bot="demo-bot-2"] .capacity-error');
    return error && error.innerText.includes("load.recommended");
  }, { timeout: STEP_TIMEOUT });

  step("an invalid bot shows its errors at the right fields");
  await page.click("#add-bot");
  await page.waitForSelector("#bot-dialog[open]", { timeout: STEP_TIMEOUT });
  await page.type("#f-id", "bad bot!");
  await page.type("#f-login", "new-bot");
  await page.type("#f-password", "pw");
  await page.$eval("#f-escalation", (input) => { input.value = ""; });
  await page.click("#bot-form-submit");
  await page.waitForSelector('#f-id.invalid + .field-error', { timeout: STEP_TIMEOUT });
  const idError = await page.$eval("#f-id + .field-error", (e) => e.innerText);
  if (!idError.includes("letters, digits")) throw new Error(`the id's error says: ${idError}`);
  await page.waitForSelector('#f-escalation.invalid + .field-error', { timeout: STEP_TIMEOUT });
  const escalationError = await page.$eval("#f-escalation + .field-error", (e) => e.innerText);
  if (!escalationError.includes("escalation")) throw new Error(`the escalation skill's error says: ${escalationError}`);
  await shot(page, "05-invalid-bot");

  step("a fixed bot is added and listed");
  await page.$eval("#f-id", (input) => { input.value = ""; });
  await page.type("#f-id", "new-bot");
  await page.type("#f-escalation", "human-agents");
  await page.click("#bot-form-submit");
  await page.waitForSelector("#bot-dialog:not([open])", { timeout: STEP_TIMEOUT });
  await waitForCell(page, "new-bot", 1, "ready to start");
  await page.click('#bots tr[data-bot="new-bot"] button[data-action="start"]');
  await waitForCell(page, "new-bot", 2, "online");

  step("a bot's details show its open conversations and its error log");
  await page.click('#bots tr[data-bot="demo-bot-2"] button[data-action="details"]');
  await page.waitForFunction(() => !document.querySelector("#details").hidden
    && document.querySelector("#conversations tbody").innerText.includes("ready"), { timeout: STEP_TIMEOUT });
  await shot(page, "06-details");

  step("nothing was fetched from anywhere but the node");
  const origin = new URL(url).origin;
  const elsewhere = requests.filter((r) => !r.startsWith(origin));
  if (elsewhere.length) throw new Error(`requests to other origins: ${elsewhere.join(", ")}`);
  if (failed) throw new Error(failed);
  step("done");
} catch (error) {
  failed = error.stack || String(error);
  if (page) {
    await shot(page, "failure").catch(() => {});
    const shown = await page.evaluate(() => [...document.querySelectorAll(".field-error, .form-errors, #banner")]
      .map((e) => e.innerText).filter(Boolean).join(" | ")).catch(() => "");
    const values = await page.evaluate(() => [...document.querySelectorAll("#bot-form [data-path]")]
      .map((e) => `${e.dataset.path}=${e.value}`).join(", ")).catch(() => "");
    failed += `\nthe page shows: ${shown}\nthe form holds: ${values}`;
  }
} finally {
  await browser.close();
}
if (failed) {
  console.error(failed);
  process.exit(1);
}
