//! The one diesel schema both backends share. Only portable SQL types appear here
//! (Text, BigInt, Binary, Bool), so `#[derive(MultiConnection)]` can serve both.

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        public_jwk -> Text,
        private_key_sealed -> Nullable<Binary>,
        created_at -> BigInt,
        published_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        deactivated_at -> Nullable<BigInt>,
        last_exp -> Nullable<BigInt>,
        retired_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Binary>,
        scopes -> Text,
        audiences -> Text,
        grant_types -> Text,
        refresh_cookie -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        introspection_audiences -> Text,
        token_endpoint_auth_method -> Text,
        application_type -> Text,
        redirect_uris -> Text,
        web_origins -> Text,
        first_party -> Bool,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        workload_issuer -> Nullable<Text>,
        workload_subject -> Nullable<Text>,
        workload_audience -> Nullable<Text>,
        workload_jwks_uri -> Nullable<Text>,
        workload_max_lifetime -> Nullable<BigInt>,
        resources -> Text,
        served_resources -> Text,
        dpop -> Text,
        dpop_nonce -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        claims -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    refresh_families (id) {
        id -> Text,
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        created_ip -> Nullable<Text>,
        created_user_agent -> Nullable<Text>,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        session_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        resources -> Text,
        dpop_jkt -> Nullable<Text>,
        head_hash -> Nullable<Binary>,
        generation -> Nullable<BigInt>,
        head_expires_at -> Nullable<BigInt>,
        rotated_at -> Nullable<BigInt>,
        rotated_ip -> Nullable<Text>,
        rotated_user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Binary,
        family_id -> Text,
        generation -> BigInt,
        issued_at -> BigInt,
        expires_at -> BigInt,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        rotated_at -> Nullable<BigInt>,
        rotated_ip -> Nullable<Text>,
        rotated_user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        actor -> Nullable<Text>,
        subject -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    login_failures (subject) {
        subject -> Text,
        failures -> BigInt,
        window_start -> BigInt,
        locked_until -> BigInt,
    }
}

diesel::table! {
    subject_revocations (subject) {
        subject -> Text,
        not_before -> BigInt,
    }
}

diesel::table! {
    client_revocations (client_id) {
        client_id -> Text,
        not_before -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        secret_hash -> Binary,
        user_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        ended_at -> Nullable<BigInt>,
        ended_reason -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Binary,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        nonce -> Nullable<Text>,
        scope -> Text,
        session_id -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        resources -> Text,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_families -> users (user_id));
diesel::joinable!(refresh_families -> clients (client_id));
diesel::joinable!(refresh_tokens -> refresh_families (family_id));

diesel::table! {
    locks (name) {
        name -> Text,
        held_at -> BigInt,
    }
}

diesel::table! {
    meta (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    logout_deliveries (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        sid -> Text,
        created_at -> BigInt,
        next_attempt_at -> BigInt,
        attempts -> BigInt,
    }
}

diesel::table! {
    used_jtis (kind, owner, jti) {
        kind -> Text,
        owner -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    revoked_sids (sid) {
        sid -> Text,
        revoked_at -> BigInt,
    }
}
diesel::joinable!(consents -> clients (client_id));
diesel::joinable!(logout_deliveries -> clients (client_id));

diesel::allow_tables_to_appear_in_same_query!(
    signing_keys,
    clients,
    users,
    refresh_families,
    refresh_tokens,
    audit_events,
    locks,
    meta,
    login_failures,
    subject_revocations,
    client_revocations,
    sessions,
    authorization_codes,
    consents,
    logout_deliveries,
    used_jtis,
    revoked_sids,
);
