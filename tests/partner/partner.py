"""A partner's integration with nis2hub, written only against the Python client that
`openapi-python-client` generates from the service's OpenAPI document (package `nis2hub_client`).

With a national-CSIRT token it registers an API client for the energy CSIRT's ticketing system
and one for a newly registered entity, gets a token for each by the OAuth 2.0 client-credentials
grant, reports an incident as the entity, then, as the energy CSIRT, finds the incident in its
list and pages its feed until both of the incident's events have arrived.

    python partner.py --url http://127.0.0.1:8080    # national-CSIRT token in NIS2HUB_TOKEN

It exits 0 after "partner: all checks passed", or non-zero with what did not match.
Request bodies are built with the models' `from_dict`, from JSON-shaped data as a partner's own
systems usually hold it.
"""

import argparse
import datetime
import os
import sys
import uuid

from nis2hub_client import AuthenticatedClient, Client
from nis2hub_client.api.clients import create_client, issue_token
from nis2hub_client.api.directory import list_organisations
from nis2hub_client.api.entities import create_entity
from nis2hub_client.api.feed import list_feed_events
from nis2hub_client.api.incidents import create_incident, list_incidents
from nis2hub_client.models import (
    ClientInput,
    Entity,
    EntityInput,
    FeedPage,
    Incident,
    NewClient,
    OAuthError,
    PageIncidentSummary,
    PageOrganisation,
    ReportInput,
    TokenRequest,
    TokenResponse,
)
from nis2hub_client.types import UNSET


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


def expect(response, status, model, what):
    """The parsed body of a `*_detailed` response, which must have `status` and be a `model`."""
    body = response.content.decode("utf-8", "replace")
    check(
        response.status_code == status,
        f"{what}: expected HTTP {status}, got {int(response.status_code)}: {body}",
    )
    check(
        isinstance(response.parsed, model),
        f"{what}: the client parsed {type(response.parsed).__name__}, not {model.__name__}: {body}",
    )
    return response.parsed


def client_credentials(hub, national, organisation_id, name, scope):
    """Registers an API client for an organisation or entity and returns a client acting as it."""
    new = expect(
        create_client.sync_detailed(
            client=national,
            body=ClientInput.from_dict(
                {"name": name, "organisation_id": str(organisation_id), "scope": scope}
            ),
        ),
        201,
        NewClient,
        f"createClient for {name}",
    )
    check(str(new.organisation_id) == str(organisation_id), f"{name}: client for {new.organisation_id}")
    check(new.client_secret, f"{name}: the new client shows no secret")
    anonymous = Client(base_url=hub)
    grant = {"grant_type": "client_credentials", "client_id": new.client_id}
    wrong = issue_token.sync_detailed(
        client=anonymous,
        body=TokenRequest.from_dict({**grant, "client_secret": new.client_secret + "x"}),
    )
    refused = expect(wrong, 401, OAuthError, f"issueToken for {name} with a wrong secret")
    check(refused.error == "invalid_client", f"{name}: a wrong secret gave {refused.error}")
    token = expect(
        issue_token.sync_detailed(
            client=anonymous,
            body=TokenRequest.from_dict({**grant, "client_secret": new.client_secret}),
        ),
        200,
        TokenResponse,
        f"issueToken for {name}",
    )
    check(token.token_type.lower() == "bearer", f"{name}: token type {token.token_type}")
    check(
        set(token.scope.split()) == set(scope.split()),
        f"{name}: asked for scope {scope!r}, the token has {token.scope!r}",
    )
    check(token.expires_in > 0, f"{name}: the token expires in {token.expires_in} s")
    print(f"partner: {name} is client {new.client_id} ({new.role}), token scope {token.scope!r}")
    return new, AuthenticatedClient(base_url=hub, token=token.access_token)


def run(hub, national_token):
    national = AuthenticatedClient(base_url=hub, token=national_token)

    # The energy CSIRT, by its code in the directory.
    orgs = expect(
        list_organisations.sync_detailed(client=national, code="csirt-energy"),
        200,
        PageOrganisation,
        "listOrganisations code=csirt-energy",
    )
    check(len(orgs.items) == 1, f"code csirt-energy names {len(orgs.items)} organisations")
    energy_org = orgs.items[0]
    check(energy_org.kind == "sectoral_csirt", f"csirt-energy is a {energy_org.kind}")

    # Its ticketing system gets client credentials of its own.
    energy_client, energy = client_credentials(
        hub,
        national,
        energy_org.id,
        "energy ticketing",
        "entities:read incidents:read feeds:read",
    )
    check(
        energy_client.role == "sectoral_csirt",
        f"a client of the energy CSIRT has role {energy_client.role}",
    )

    # The national CSIRT registers an electricity operator; a retry with the same
    # Idempotency-Key gets the same entity back instead of a second one.
    registration = {
        "name": "Partner Grid B.V.",
        "identifier": uuid.uuid4().hex[:12],
        "country": "NL",
        "sector": "energy.electricity",
        "size": "large",
        "contacts": [{"name": "SOC", "email": "soc@partner-grid.example"}],
        "domains": ["partner-grid.example"],
    }
    key = str(uuid.uuid4())
    entity = expect(
        create_entity.sync_detailed(
            client=national, body=EntityInput.from_dict(registration), idempotency_key=key
        ),
        201,
        Entity,
        "createEntity",
    )
    check(entity.category == "essential", f"a large electricity operator is {entity.category}")
    check(
        entity.sectoral_csirt and str(entity.sectoral_csirt.id) == str(energy_org.id),
        f"the entity's sectoral CSIRT is {entity.sectoral_csirt}, not csirt-energy",
    )
    replay = create_entity.sync_detailed(
        client=national, body=EntityInput.from_dict(registration), idempotency_key=key
    )
    check(
        isinstance(replay.parsed, Entity) and str(replay.parsed.id) == str(entity.id),
        f"a replayed createEntity answered {int(replay.status_code)}: {replay.content!r}",
    )
    print(
        f"partner: registered entity {entity.id} ({entity.category}, {entity.sectoral_csirt.code})"
    )

    # The entity's own reporting system reports an incident with its own token.
    _, reporter = client_credentials(
        hub, national, entity.id, "grid reporting", "incidents:report incidents:read"
    )
    aware_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    incident = expect(
        create_incident.sync_detailed(
            client=reporter,
            body=ReportInput.from_dict(
                {
                    "entity_id": str(entity.id),
                    "stage": "early_warning",
                    "aware_at": aware_at.isoformat(),
                    "significant": True,
                    "suspected_malicious": True,
                    "affected_member_states": ["NL", "BE"],
                    "summary": "Ransomware on the control-room jump hosts",
                }
            ),
        ),
        201,
        Incident,
        "createIncident as the entity",
    )
    check(str(incident.entity_id) == str(entity.id), f"the incident belongs to {incident.entity_id}")
    check(incident.aware_at == aware_at, f"aware_at came back as {incident.aware_at}")
    routed_to_energy = [
        r
        for r in incident.decision.recipients
        if str(r.organisation_id) == str(energy_org.id) and r.role == "sectoral_csirt"
    ]
    check(
        routed_to_energy,
        "the decision does not route the incident to csirt-energy: "
        + ", ".join(f"{r.organisation_code}/{r.role}" for r in incident.decision.recipients),
    )
    print(
        f"partner: reported {incident.reference}, routed to {len(incident.decision.recipients)} recipients"
    )

    # The energy CSIRT finds it among the incidents routed to it, paging with the cursor.
    found, cursor, pages = None, None, 0
    while True:
        page = expect(
            list_incidents.sync_detailed(client=energy, limit=1, cursor=cursor or UNSET),
            200,
            PageIncidentSummary,
            "listIncidents as the energy CSIRT",
        )
        pages += 1
        found = found or next((i for i in page.items if str(i.id) == str(incident.id)), None)
        cursor = page.next_cursor
        if found or not cursor:
            break
        check(pages < 1000, "listIncidents does not end")
    check(found, f"the energy CSIRT's incident list lacks {incident.reference}")
    check(found.reference == incident.reference, f"listed as {found.reference}")
    check(found.significant, "the listed incident is not significant")
    check(found.cross_border, "the listed incident is not cross-border")
    print(f"partner: the energy CSIRT lists {found.reference} (page {pages})")

    # ... and pages its feed with `after` until both of the incident's events have arrived.
    after, seen, mine = 0, set(), {}
    while True:
        page = expect(
            list_feed_events.sync_detailed(client=energy, after=after, limit=1),
            200,
            FeedPage,
            f"listFeedEvents after={after}",
        )
        if not page.items:
            check(page.next_after == after, f"an empty page moved next_after to {page.next_after}")
            break
        for event in page.items:
            check(event.seq > after, f"after={after} returned event seq {event.seq}")
            check(event.id not in seen, f"event {event.id} came twice")
            seen.add(event.id)
            after = event.seq
            if str(event.subject.id) == str(incident.id):
                mine[event.type_] = event
        check(page.next_after == after, f"next_after {page.next_after}, last seq {after}")
        if {"incident.routed", "incident.reported"} <= mine.keys():
            break
    check(
        {"incident.routed", "incident.reported"} <= mine.keys(),
        f"the energy CSIRT's feed has only {sorted(mine)} for {incident.reference}",
    )
    check(
        all(e.subject.type_ == "incident" for e in mine.values()),
        "the incident's events name another subject type",
    )
    print(
        f"partner: the feed brought {sorted(mine)} for {incident.reference} in {len(seen)} events"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    args = parser.parse_args()
    token = os.environ.get("NIS2HUB_TOKEN")
    if not token:
        sys.exit("partner: FAILED: set NIS2HUB_TOKEN to a national-CSIRT token")
    try:
        run(args.url.rstrip("/"), token)
    except Mismatch as e:
        sys.exit(f"partner: FAILED: {e}")
    print("partner: all checks passed")


if __name__ == "__main__":
    main()
