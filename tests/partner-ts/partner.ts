/**
 * A partner's integration with nis2hub in TypeScript, written only against the types that
 * `openapi-typescript` generates from the service's OpenAPI document (`nis2hub.d.ts`, made by
 * the test beside this file) and the `openapi-fetch` client over them.
 *
 * With a national-CSIRT token it registers an API client for the energy CSIRT's ticketing
 * system and one for a newly registered entity, gets a token for each by the OAuth 2.0
 * client-credentials grant (RFC 6749 §4.4), lists the register's electricity operators,
 * reports an incident as the entity, then, as the energy CSIRT, finds the incident in its list
 * and pages its feed until both of the incident's events have arrived.
 *
 *     tsc -p . && NIS2HUB_TOKEN=... node out/partner.js --url http://127.0.0.1:8080
 *
 * It exits 0 after "partner: all checks passed", or non-zero with what did not match. Request
 * bodies are object literals at the call, so `tsc --strict` refuses a misspelt or missing field
 * and a value outside an enum before the script ever runs.
 */

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./nis2hub.js";

type Schemas = components["schemas"];
type Hub = Client<paths>;

class Mismatch extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Mismatch(message);
}

/** The body of an answer that must have `status` and no error. */
function expect<T>(
  answer: { data?: T; error?: unknown; response: Response },
  status: number,
  what: string,
): T {
  check(
    answer.response.status === status && answer.data !== undefined,
    `${what}: expected HTTP ${status}, got ${answer.response.status}: ${JSON.stringify(answer.error)}`,
  );
  return answer.data;
}

function hub(baseUrl: string, token?: string): Hub {
  return createClient<paths>({
    baseUrl,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
}

/** Registers an API client for an organisation or entity and returns a client acting as it. */
async function clientCredentials(
  url: string,
  national: Hub,
  organisationId: string,
  name: string,
  scope: string,
): Promise<[Schemas["NewClient"], Hub]> {
  const created = expect(
    await national.POST("/api/v1/clients", {
      body: { name, organisation_id: organisationId, scope },
    }),
    201,
    `createClient for ${name}`,
  );
  check(created.organisation_id === organisationId, `${name}: client for ${created.organisation_id}`);
  check(created.client_secret, `${name}: the new client shows no secret`);

  // The token endpoint takes a form (RFC 6749 §4.4.2): openapi-fetch encodes the body so
  // when the request says so.
  const anonymous = hub(url);
  const form = { "Content-Type": "application/x-www-form-urlencoded" } as const;
  const wrong = await anonymous.POST("/oauth/token", {
    body: {
      grant_type: "client_credentials",
      client_id: created.client_id,
      client_secret: `${created.client_secret}x`,
    },
    headers: form,
  });
  // A 401 is an RFC 6749 §5.2 error; other failures (413, 429) are RFC 9457 problems.
  const refused = wrong.error && "error" in wrong.error ? wrong.error.error : undefined;
  check(
    wrong.response.status === 401 && refused === "invalid_client",
    `issueToken for ${name} with a wrong secret: ${wrong.response.status} ${JSON.stringify(wrong.error)}`,
  );
  const token = expect(
    await anonymous.POST("/oauth/token", {
      body: {
        grant_type: "client_credentials",
        client_id: created.client_id,
        client_secret: created.client_secret,
      },
      headers: form,
    }),
    200,
    `issueToken for ${name}`,
  );
  check(token.token_type.toLowerCase() === "bearer", `${name}: token type ${token.token_type}`);
  const sorted = (s: string) => s.split(" ").sort().join(" ");
  check(
    sorted(token.scope) === sorted(scope),
    `${name}: asked for scope ${scope}, the token has ${token.scope}`,
  );
  check(token.expires_in > 0, `${name}: the token expires in ${token.expires_in} s`);
  console.log(`partner: ${name} is client ${created.client_id} (${created.role}), token scope '${token.scope}'`);
  return [created, hub(url, token.access_token)];
}

async function run(url: string, nationalToken: string): Promise<void> {
  const national = hub(url, nationalToken);

  // The energy CSIRT, by its code in the directory.
  const orgs = expect(
    await national.GET("/api/v1/organisations", { params: { query: { code: "csirt-energy" } } }),
    200,
    "listOrganisations code=csirt-energy",
  );
  check(orgs.items.length === 1, `code csirt-energy names ${orgs.items.length} organisations`);
  const energyOrg = orgs.items[0];
  check(energyOrg.kind === "sectoral_csirt", `csirt-energy is a ${energyOrg.kind}`);

  // Its ticketing system gets client credentials of its own.
  const [energyClient, energy] = await clientCredentials(
    url,
    national,
    energyOrg.id,
    "energy ticketing",
    "entities:read incidents:read feeds:read",
  );
  check(energyClient.role === "sectoral_csirt", `a client of the energy CSIRT has role ${energyClient.role}`);

  // The national CSIRT registers an electricity operator.
  const identifier = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const entity = expect(
    await national.POST("/api/v1/entities", {
      body: {
        name: "Partner Grid B.V.",
        identifier,
        country: "NL",
        sector: "energy.electricity",
        size: "large",
        contacts: [{ name: "SOC", email: "soc@partner-grid.example" }],
        domains: ["partner-grid.example"],
      },
      params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    }),
    201,
    "createEntity",
  );
  check(entity.category === "essential", `a large electricity operator is ${entity.category}`);
  check(
    entity.sectoral_csirt?.id === energyOrg.id,
    `the entity's sectoral CSIRT is ${JSON.stringify(entity.sectoral_csirt)}, not csirt-energy`,
  );
  console.log(`partner: registered entity ${entity.id} (${entity.category}, ${entity.sectoral_csirt.code})`);

  // The energy CSIRT lists the electricity operators of its register, paging with the cursor.
  let listed: Schemas["Entity"] | undefined;
  let cursor: string | undefined;
  do {
    const page: Schemas["Page_Entity"] = expect(
      await energy.GET("/api/v1/entities", {
        params: { query: { sector: "energy.electricity", limit: 1, cursor } },
      }),
      200,
      "listEntities as the energy CSIRT",
    );
    listed ??= page.items.find((e) => e.id === entity.id);
    cursor = page.next_cursor ?? undefined;
  } while (!listed && cursor);
  check(listed?.identifier === identifier, `the energy CSIRT's register lacks ${entity.id}`);
  console.log(`partner: the energy CSIRT lists ${listed.name}`);

  // The entity's own reporting system reports an incident with its own token.
  const [, reporter] = await clientCredentials(
    url,
    national,
    entity.id,
    "grid reporting",
    "incidents:report incidents:read",
  );
  const awareAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z");
  const incident = expect(
    await reporter.POST("/api/v1/incidents", {
      body: {
        entity_id: entity.id,
        stage: "early_warning",
        aware_at: awareAt,
        significant: true,
        suspected_malicious: true,
        affected_member_states: ["NL", "BE"],
        summary: "Ransomware on the control-room jump hosts",
      },
    }),
    201,
    "createIncident as the entity",
  );
  check(incident.entity_id === entity.id, `the incident belongs to ${incident.entity_id}`);
  check(
    Date.parse(incident.aware_at) === Date.parse(awareAt),
    `aware_at came back as ${incident.aware_at}`,
  );
  const routed = incident.decision.recipients.filter(
    (r) => r.organisation_id === energyOrg.id && r.role === "sectoral_csirt",
  );
  check(
    routed.length > 0,
    `the decision does not route the incident to csirt-energy: ${incident.decision.recipients
      .map((r) => `${r.organisation_code}/${r.role}`)
      .join(", ")}`,
  );
  console.log(
    `partner: reported ${incident.reference}, routed to ${incident.decision.recipients.length} recipients`,
  );

  // The energy CSIRT finds it among the incidents routed to it, paging with the cursor.
  let found: Schemas["IncidentSummary"] | undefined;
  let pages = 0;
  cursor = undefined;
  do {
    const page: Schemas["Page_IncidentSummary"] = expect(
      await energy.GET("/api/v1/incidents", { params: { query: { limit: 1, cursor } } }),
      200,
      "listIncidents as the energy CSIRT",
    );
    pages += 1;
    found ??= page.items.find((i) => i.id === incident.id);
    cursor = page.next_cursor ?? undefined;
    check(pages < 1000, "listIncidents does not end");
  } while (!found && cursor);
  check(found, `the energy CSIRT's incident list lacks ${incident.reference}`);
  check(found.reference === incident.reference, `listed as ${found.reference}`);
  check(found.significant, "the listed incident is not significant");
  check(found.cross_border, "the listed incident is not cross-border");
  console.log(`partner: the energy CSIRT lists ${found.reference} (page ${pages})`);

  // ... and pages its feed with `after` until both of the incident's events have arrived.
  let after = 0;
  const seen = new Set<string>();
  const mine = new Map<string, Schemas["Event"]>();
  const wanted = ["incident.reported", "incident.routed"];
  for (;;) {
    const page = expect(
      await energy.GET("/api/v1/feed", { params: { query: { after, limit: 1 } } }),
      200,
      `listFeedEvents after=${after}`,
    );
    if (page.items.length === 0) {
      check(page.next_after === after, `an empty page moved next_after to ${page.next_after}`);
      break;
    }
    for (const event of page.items) {
      check(event.seq > after, `after=${after} returned event seq ${event.seq}`);
      check(!seen.has(event.id), `event ${event.id} came twice`);
      seen.add(event.id);
      after = event.seq;
      if (event.subject.id === incident.id) mine.set(event.type, event);
    }
    check(page.next_after === after, `next_after ${page.next_after}, last seq ${after}`);
    if (wanted.every((t) => mine.has(t))) break;
  }
  check(
    wanted.every((t) => mine.has(t)),
    `the energy CSIRT's feed has only ${[...mine.keys()].sort().join(", ")} for ${incident.reference}`,
  );
  check(
    [...mine.values()].every((e) => e.subject.type === "incident"),
    "the incident's events name another subject type",
  );
  console.log(`partner: the feed brought ${[...mine.keys()].sort().join(", ")} for ${incident.reference} in ${seen.size} events`);
}

async function main(): Promise<void> {
  const at = process.argv.indexOf("--url");
  const url = at > 0 ? process.argv[at + 1] : undefined;
  const token = process.env.NIS2HUB_TOKEN;
  if (!url || !token) {
    console.error("partner: FAILED: usage: NIS2HUB_TOKEN=<national-CSIRT token> node partner.js --url <service>");
    process.exit(2);
  }
  try {
    await run(url.replace(/\/+$/, ""), token);
  } catch (e) {
    console.error(`partner: FAILED: ${e instanceof Mismatch ? e.message : String(e)}`);
    process.exit(1);
  }
  console.log("partner: all checks passed");
}

await main();
