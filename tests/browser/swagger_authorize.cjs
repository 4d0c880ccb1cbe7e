// Swagger UI at /docs, as a person uses it: "Authorize", the oauth2 scheme's client id and
// secret (the client-credentials grant, RFC 6749 §4.4, at the document's tokenUrl), then
// "Try it out" and "Execute" on GET /api/v1/entities, which must answer 200 with the token
// Swagger UI obtained. Run by tests/swagger_ui.rs:
//   node swagger_authorize.cjs <service url> <client id> <client secret>
// with playwright-core on NODE_PATH and CHROMIUM naming the browser (default /usr/bin/chromium).
// Exits non-zero, saying where, if any step fails.
"use strict";

const { chromium } = require("playwright-core");

const [url, clientId, clientSecret] = process.argv.slice(2);
if (!url || !clientId || !clientSecret) {
  console.error("usage: swagger_authorize.cjs <url> <client id> <client secret>");
  process.exit(2);
}
const STEP_TIMEOUT = 30000;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
  });
  const apiCalls = [];
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on("request", (r) => {
      if (r.url().includes("/api/v1/entities")) apiCalls.push(r);
    });
    page.on("pageerror", (e) => console.error("page error:", e.message));

    step("open /docs");
    await page.goto(`${url}/docs/`);
    await page.locator(".swagger-ui .info .title").waitFor();

    step("open the Authorize dialog");
    await page.locator("button.authorize").first().click();
    const oauth = page
      .locator(".modal-ux .auth-container")
      .filter({ hasText: "oauth2" })
      .first();
    await oauth.waitFor();
    const text = await oauth.innerText();
    if (!text.includes("/oauth/token") || !text.includes("clientCredentials")) {
      throw new Error(`the oauth2 section does not show the client-credentials flow:\n${text}`);
    }

    step("fill in the client id and secret, authorize");
    await oauth.locator('input[data-name="clientId"]').fill(clientId);
    await oauth.locator('input[data-name="clientSecret"]').fill(clientSecret);
    const answered = page.waitForResponse((r) => r.url().endsWith("/oauth/token"));
    await oauth.locator("button.authorize").click();
    const tokenResponse = await answered;
    const sentToken = tokenResponse.request();
    const how = (await sentToken.headerValue("authorization")) ? "HTTP Basic" : "the form body";
    console.log(`swagger-ui: the credentials went to /oauth/token in ${how}`);
    if (tokenResponse.status() !== 200) {
      throw new Error(
        `/oauth/token answered ${tokenResponse.status()}: ${await tokenResponse.text()}`,
      );
    }
    await oauth.locator("button", { hasText: "Logout" }).waitFor();
    await page.locator(".modal-ux button.close-modal").first().click();

    step("call GET /api/v1/entities with the token");
    const op = page.locator("#operations-entities-listEntities");
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor();
    const code = (await status.innerText()).trim();
    const sent = apiCalls[apiCalls.length - 1];
    const authorization = sent ? await sent.headerValue("authorization") : null;
    if (!authorization || !authorization.startsWith("Bearer ")) {
      throw new Error(`the call carried no bearer token (Authorization: ${authorization})`);
    }
    if (code !== "200") {
      throw new Error(`GET /api/v1/entities answered ${code}`);
    }
    console.log("swagger-ui: authorized with client credentials and called listEntities: 200");
  } finally {
    await browser.close();
  }
}

let current = "start";
function step(name) {
  current = name;
  console.log(`swagger-ui: ${name}`);
}

main().catch((e) => {
  console.error(`swagger-ui: failed at "${current}": ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
