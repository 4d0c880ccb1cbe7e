//! The one schema for both backends. Ids are UUID text, JSON documents are text serialized in
//! Rust, timestamps are UTC without zone, written by the service.

diesel::table! {
    organisations (id) {
        id -> Text,
        code -> Text,
        name -> Text,
        kind -> Text,
        coverage -> Text,
        contact -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    entities (id) {
        id -> Text,
        name -> Text,
        name_folded -> Text,
        identifier -> Text,
        country -> Text,
        sector -> Text,
        category -> Text,
        status -> Text,
        body -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deregistration_request -> Nullable<Text>,
    }
}

diesel::table! {
    entity_versions (entity_id, version) {
        entity_id -> Text,
        version -> BigInt,
        snapshot -> Text,
        changed_at -> Timestamp,
        changed_by -> Text,
        change -> Text,
        flags -> Text,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Text,
        client_id -> Text,
        name -> Text,
        org_id -> Text,
        role -> Text,
        scopes -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (caller, key) {
        caller -> Text,
        key -> Text,
        request_hash -> Text,
        status -> Integer,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        id -> Text,
        at -> Timestamp,
        actor_org -> Text,
        actor_sub -> Text,
        actor_role -> Text,
        client_id -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Text,
        request_id -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(entity_versions -> entities (entity_id));
diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    entities,
    entity_versions,
    api_clients,
    idempotency_keys,
    audit_log
);

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    incidents (id) {
        id -> Text,
        reference -> Text,
        entity_id -> Text,
        sector -> Text,
        status -> Text,
        current_stage -> Text,
        aware_at -> Timestamp,
        occurred_at -> Timestamp,
        significant -> Bool,
        mandatory -> Bool,
        cross_border -> Bool,
        cross_sectoral -> Bool,
        late -> Bool,
        tlp -> Text,
        facts -> Text,
        decision -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        kind -> Text,
        category -> Nullable<Text>,
        threat_type -> Nullable<Text>,
        root_cause_category -> Nullable<Text>,
        root_cause_key -> Nullable<Text>,
        financial_loss_eur -> Nullable<BigInt>,
    }
}

diesel::table! {
    incident_reports (id) {
        id -> Text,
        incident_id -> Text,
        number -> BigInt,
        stage -> Text,
        submitted_at -> Timestamp,
        submitted_by -> Text,
        body -> Text,
        handling_ended_at -> Nullable<Timestamp>,
        review_status -> Nullable<Text>,
        review_comment -> Nullable<Text>,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    incident_decisions (incident_id, number) {
        incident_id -> Text,
        number -> BigInt,
        report_id -> Nullable<Text>,
        decided_at -> Timestamp,
        decision -> Text,
    }
}

diesel::table! {
    incident_recipients (incident_id, org_id, role) {
        incident_id -> Text,
        org_id -> Text,
        role -> Text,
        since -> Timestamp,
    }
}

diesel::table! {
    incident_requests (id) {
        id -> Text,
        incident_id -> Text,
        requested_by -> Text,
        requested_at -> Timestamp,
        due_at -> Timestamp,
        note -> Text,
    }
}

diesel::table! {
    incident_deadlines (incident_id, stage, request_id) {
        incident_id -> Text,
        stage -> Text,
        request_id -> Text,
        due_at -> Timestamp,
        missed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        id -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        occurred_at -> Timestamp,
        subject_type -> Text,
        subject_id -> Text,
        significant -> Bool,
        data -> Text,
        copy_of -> Nullable<BigInt>,
    }
}

diesel::table! {
    event_recipients (org_id, seq) {
        org_id -> Text,
        seq -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    incidents,
    incident_reports,
    incident_decisions,
    incident_recipients,
    incident_requests,
    incident_deadlines,
    events,
    event_recipients,
    entities
);

diesel::table! {
    webhooks (id) {
        id -> Text,
        org_id -> Text,
        url -> Text,
        event_types -> Text,
        description -> Text,
        enabled -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        consecutive_failures -> BigInt,
        disabled_reason -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        event_seq -> BigInt,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        last_latency_ms -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        org_id -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries, events, organisations);

diesel::table! {
    advisories (id) {
        id -> Text,
        reference -> Text,
        issuer_id -> Text,
        status -> Text,
        tlp -> Text,
        audience -> Text,
        severity -> Text,
        body -> Text,
        published_body -> Nullable<Text>,
        pending_changes -> Bool,
        revision -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
        withdrawn_at -> Nullable<Timestamp>,
        withdrawn_reason -> Nullable<Text>,
        published_version -> Nullable<BigInt>,
        published_updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    advisory_revisions (advisory_id, number) {
        advisory_id -> Text,
        number -> BigInt,
        date -> Timestamp,
        summary -> Text,
        published_by -> Text,
        snapshot -> Text,
    }
}

diesel::table! {
    advisory_readers (advisory_id, org_id) {
        advisory_id -> Text,
        org_id -> Text,
    }
}

diesel::table! {
    advisory_cves (advisory_id, cve) {
        advisory_id -> Text,
        cve -> Text,
    }
}

diesel::table! {
    advisory_sectors (advisory_id, sector) {
        advisory_id -> Text,
        sector -> Text,
    }
}

diesel::table! {
    entity_networks (entity_id, range_start, range_end) {
        entity_id -> Text,
        range_start -> Text,
        range_end -> Text,
        prefix_len -> Integer,
    }
}

diesel::table! {
    entity_domains (entity_id, reversed) {
        entity_id -> Text,
        reversed -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    advisories,
    advisory_revisions,
    advisory_readers,
    advisory_cves,
    advisory_sectors,
    entities,
    entity_networks,
    entity_domains
);

diesel::table! {
    maturity_assessments (id) {
        id -> Text,
        organisation_id -> Text,
        assessment_type -> Text,
        model -> Text,
        assessed_at -> Timestamp,
        valid_until -> Timestamp,
        tier -> Text,
        body -> Text,
        recorded_by -> Text,
        created_at -> Timestamp,
        expired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    maturity_compliance (organisation_id) {
        organisation_id -> Text,
        compliant -> Bool,
        tier -> Text,
        checked_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    maturity_assessments,
    maturity_compliance,
    organisations
);

diesel::table! {
    cvd_cases (id) {
        id -> Text,
        reference -> Text,
        state -> Text,
        title -> Text,
        description -> Text,
        vendor_hint -> Nullable<Text>,
        product -> Nullable<Text>,
        versions -> Text,
        cves -> Text,
        finder -> Nullable<Text>,
        reporter_org -> Nullable<Text>,
        reporter_sub -> Nullable<Text>,
        case_token_hash -> Nullable<Text>,
        coordinator_id -> Text,
        co_coordinators -> Text,
        wanted_disclosure_at -> Nullable<Timestamp>,
        embargo_until -> Nullable<Timestamp>,
        acknowledge_due_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledge_missed_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        duplicate_of -> Nullable<Text>,
        advisory_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        assess_due_at -> Timestamp,
        assessed_at -> Nullable<Timestamp>,
        assess_missed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cvd_vendors (id) {
        id -> Text,
        case_id -> Text,
        name -> Text,
        entity_id -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        token_hash -> Nullable<Text>,
        status -> Text,
        statement -> Nullable<Text>,
        notified_at -> Timestamp,
        answer_due_at -> Timestamp,
        responded_at -> Nullable<Timestamp>,
        unresponsive_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    cvd_messages (id) {
        id -> Text,
        case_id -> Text,
        author_kind -> Text,
        author_id -> Nullable<Text>,
        author_name -> Text,
        visibility -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(cvd_cases, cvd_vendors, cvd_messages);

diesel::table! {
    csaf_documents (advisory_id, revision) {
        advisory_id -> Text,
        revision -> BigInt,
        tlp -> Text,
        directory -> Text,
        year -> Text,
        file -> Text,
        tracking_id -> Text,
        title -> Text,
        published_at -> Timestamp,
        modified_at -> Timestamp,
        public_url -> Text,
        document -> Text,
        sha256 -> Text,
        sha512 -> Text,
        signature -> Text,
        stored_at -> Timestamp,
    }
}

diesel::table! {
    csaf_generation (id) {
        id -> Integer,
        generation -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(csaf_documents, advisories);
diesel::allow_tables_to_appear_in_same_query!(csaf_documents, advisory_readers);

diesel::table! {
    awareness_cells (basis, grouping, sector, span, unit, key) {
        basis -> Text,
        grouping -> Text,
        sector -> Text,
        span -> Text,
        unit -> Text,
        key -> Text,
        incidents -> BigInt,
        significant -> BigInt,
        late -> BigInt,
        near_misses -> BigInt,
        cyber_threats -> BigInt,
        cross_border -> BigInt,
        entities -> Binary,
    }
}

diesel::table! {
    awareness_stale (basis, day) {
        basis -> Text,
        day -> Text,
    }
}

diesel::table! {
    awareness_entity_numbers (number) {
        number -> BigInt,
        entity_id -> Text,
    }
}

diesel::table! {
    /// What awareness counts of each incident, kept by triggers on `incidents`.
    awareness_incidents (incident_id) {
        incident_id -> Text,
        created_at -> Timestamp,
        aware_at -> Timestamp,
        entity_number -> BigInt,
        sector -> Text,
        kind -> Text,
        significant -> Bool,
        late -> Bool,
        cross_border -> Bool,
        threat_type -> Nullable<Text>,
        root_cause_category -> Nullable<Text>,
        category -> Nullable<Text>,
        current_stage -> Text,
    }
}
