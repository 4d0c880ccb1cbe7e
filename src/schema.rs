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
