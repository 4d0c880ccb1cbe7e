//! The shapes of strings clients send, each defined once: the check the service runs and the
//! schema the OpenAPI document shows come from the same list or the same pattern, so the
//! document says exactly what the service accepts.
//!
//! Each type here is a named component of the document (`Timestamp`, `MemberState`, …);
//! fields refer to it with `#[schema(value_type = …)]`. The formats of a domain's own
//! vocabulary are defined the same way in that domain (`directory::sectors::SectorCode`,
//! `auth::scopes::ScopeList`, `webhooks::routes::EventType`), with [`named_schema`].

use regex::Regex;
use std::sync::OnceLock;
use utoipa::openapi::schema::{Object, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{KnownFormat, Schema};

/// EU member states (ISO 3166-1 alpha-2; Greece is `GR`).
pub const MEMBER_STATES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// A CIDR range: an IPv4 or IPv6 address (standard notation, no leading zeros in IPv4
/// octets), `/` and a prefix length (0–32, 0–128). Host bits may be set.
pub const CIDR_PATTERN: &str = concat!(
    "^(?:",
    "(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "/(?:3[0-2]|[12]?[0-9])",
    "|",
    "(?:",
    "(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}",
    "|(?:[0-9a-fA-F]{1,4}:){1,7}:",
    "|(?:[0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}",
    "|(?:[0-9a-fA-F]{1,4}:){1,5}(?::[0-9a-fA-F]{1,4}){1,2}",
    "|(?:[0-9a-fA-F]{1,4}:){1,4}(?::[0-9a-fA-F]{1,4}){1,3}",
    "|(?:[0-9a-fA-F]{1,4}:){1,3}(?::[0-9a-fA-F]{1,4}){1,4}",
    "|(?:[0-9a-fA-F]{1,4}:){1,2}(?::[0-9a-fA-F]{1,4}){1,5}",
    "|[0-9a-fA-F]{1,4}:(?::[0-9a-fA-F]{1,4}){1,6}",
    "|:(?:(?::[0-9a-fA-F]{1,4}){1,7}|:)",
    "|(?:[0-9a-fA-F]{1,4}:){6}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|::(?:[0-9a-fA-F]{1,4}:){0,5}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|(?:[0-9a-fA-F]{1,4}:){1}:(?:[0-9a-fA-F]{1,4}:){0,4}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|(?:[0-9a-fA-F]{1,4}:){2}:(?:[0-9a-fA-F]{1,4}:){0,3}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|(?:[0-9a-fA-F]{1,4}:){3}:(?:[0-9a-fA-F]{1,4}:){0,2}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|(?:[0-9a-fA-F]{1,4}:){4}:(?:[0-9a-fA-F]{1,4}:){0,1}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|(?:[0-9a-fA-F]{1,4}:){5}:(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    ")",
    "/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])",
    ")$"
);

/// A domain name: two or more labels of letters, digits and inner hyphens (1–63 characters
/// each), optionally with one trailing dot; at most 253 characters in all.
pub const DOMAIN_PATTERN: &str =
    "^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$";
pub const DOMAIN_MAX_LENGTH: usize = 253;

/// A timestamp a client sends: RFC 3339 with a `T`, written with a year from 1970 to 9998
/// (so that in UTC it stays a four-digit year whatever the offset). A pattern cannot weigh the
/// offset against the time, so the one thing it lets through that the service refuses is an
/// instant before 1970-01-01T00:00:00Z written on 1970-01-01 with a positive offset (such as
/// `1970-01-01T00:00:00+23:59`); the description says so.
pub const TIMESTAMP_PATTERN: &str =
    "^(?:19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}[Tt]";

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// Free text that is not blank: at least one character that is neither NUL nor white space
/// (Unicode `White_Space`, what `str::trim` removes), spelt out so that ECMAScript, Python
/// and Rust read the class alike.
pub const NOT_BLANK_PATTERN: &str = "^[^\\x00]*[^\\x00\\t\\n\\x0B\\x0C\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\x00]*$";

/// An `http` or `https` URL: the scheme, `//` and at least one character, none of them white
/// space or a control character.
pub const HTTP_URL_PATTERN: &str = "^https?://[^\\x00-\\x20\\x7F-\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]+$";

/// A CVE id, `CVE-<year>-<4 to 19 digits>`, in capitals.
pub const CVE_PATTERN: &str = "^CVE-[0-9]{4}-[0-9]{4,19}$";

/// True for exactly the strings [`HTTP_URL_PATTERN`] matches.
pub fn is_http_url(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, HTTP_URL_PATTERN).is_match(s)
}

/// True for exactly the strings [`CVE_PATTERN`] matches.
pub fn is_cve(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, CVE_PATTERN).is_match(s)
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("the pattern compiles"))
}

/// True for exactly the strings [`CIDR_PATTERN`] matches.
pub fn is_cidr(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    regex(&RE, CIDR_PATTERN).is_match(s) && s.parse::<ipnet::IpNet>().is_ok()
}

/// True for exactly the strings [`DOMAIN_PATTERN`] and [`DOMAIN_MAX_LENGTH`] allow.
pub fn is_domain(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    s.len() <= DOMAIN_MAX_LENGTH && regex(&RE, DOMAIN_PATTERN).is_match(s)
}

/// A hyphenated UUID (either case), as `format: uuid` describes; returned lower-case.
pub fn uuid(s: &str) -> Option<String> {
    let hyphens_at = [8, 13, 18, 23];
    let shaped = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if hyphens_at.contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    shaped.then(|| s.to_ascii_lowercase())
}

/// A string schema of the values listed.
pub fn string_enum(description: &str, values: impl IntoIterator<Item = &'static str>) -> Schema {
    let mut o = Object::with_type(SchemaType::Type(Type::String));
    o.description = Some(description.into());
    o.enum_values = Some(values.into_iter().map(Into::into).collect());
    Schema::Object(o)
}

/// A string schema of the pattern given.
pub fn string_pattern(description: &str, pattern: &str, format: Option<KnownFormat>) -> Schema {
    let mut o = Object::with_type(SchemaType::Type(Type::String));
    o.description = Some(description.into());
    o.pattern = Some(pattern.into());
    o.format = format.map(SchemaFormat::KnownFormat);
    Schema::Object(o)
}

/// A named component of the document: `named_schema!(Type, "Name", "doc", schema)`.
macro_rules! named_schema {
    ($ty:ident, $name:literal, $doc:literal, $schema:expr) => {
        #[doc = $doc]
        pub struct $ty;
        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::Schema> {
                ::utoipa::openapi::RefOr::T($schema)
            }
        }
        impl ::utoipa::ToSchema for $ty {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
pub(crate) use named_schema;

named_schema!(
    MemberState,
    "MemberState",
    "An EU member state, ISO 3166-1 alpha-2 in capitals (Greece is `GR`).",
    string_enum(
        "An EU member state, ISO 3166-1 alpha-2 in capitals (Greece is `GR`).",
        MEMBER_STATES.iter().copied()
    )
);

named_schema!(
    Cidr,
    "Cidr",
    "A public IP range in CIDR notation, such as `192.0.2.0/24` or `2001:db8::/32`.",
    string_pattern(
        "A public IP range in CIDR notation, such as `192.0.2.0/24` or `2001:db8::/32`.",
        CIDR_PATTERN,
        None
    )
);

named_schema!(
    DomainName,
    "DomainName",
    "A domain name such as `example.nl` (stored in lower case, without a trailing dot).",
    {
        let mut s = string_pattern(
            "A domain name such as `example.nl` (stored in lower case, without a trailing dot).",
            DOMAIN_PATTERN,
            None,
        );
        if let Schema::Object(o) = &mut s {
            o.max_length = Some(DOMAIN_MAX_LENGTH);
        }
        s
    }
);

named_schema!(
    Timestamp,
    "Timestamp",
    "An RFC 3339 timestamp written with a year from 1970 to 9998 and not before 1970-01-01T00:00:00Z in UTC, such as `2026-11-23T08:00:00Z`.",
    string_pattern(
        "An RFC 3339 timestamp written with a year from 1970 to 9998 and not before 1970-01-01T00:00:00Z in UTC, such as `2026-11-23T08:00:00Z`.",
        TIMESTAMP_PATTERN,
        Some(KnownFormat::DateTime)
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_pattern_accepts_exactly_what_the_service_parses() {
        for good in [
            "192.0.2.0/24",
            "10.0.0.1/8",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "2001:db8::/32",
            "::/0",
            "::1/128",
            "fe80::1:2/64",
            "1:2:3:4:5:6:7:8/128",
            "1:2:3:4:5:6:7::/112",
            "::ffff:192.0.2.1/128",
            "1:2:3:4:5:6:192.0.2.1/96",
            "1::192.0.2.1/96",
            "1:2:3:4:5::192.0.2.1/96",
            "::1:2:3:4:5:192.0.2.1/96",
            "::192.0.2.1/96",
        ] {
            assert!(is_cidr(good), "{good}");
            assert!(good.parse::<ipnet::IpNet>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "192.0.2.0",
            "192.0.2.0/33",
            "010.0.0.0/8",
            "10.0.0.0/08",
            "1.2.3/8",
            " 10.0.0.0/8",
            "2001:db8::/129",
            "2001:db8:::/32",
            "1:2:3:4:5:6:7:8:9/64",
            "example.nl/24",
        ] {
            assert!(!is_cidr(bad), "{bad}");
        }
    }

    #[test]
    fn domain_pattern_and_length_are_the_rule() {
        for good in [
            "example.nl",
            "Grid.Example.",
            "a-b.c0",
            "xn--bcher-kva.example",
        ] {
            assert!(is_domain(good), "{good}");
        }
        let long = format!("{}.nl", "a.".repeat(126));
        assert!(long.len() > DOMAIN_MAX_LENGTH && !is_domain(&long));
        for bad in [
            "example", "-a.nl", "a-.nl", "a..nl", "a.nl..", " a.nl", "a_b.nl", "",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }

    #[test]
    fn not_blank_is_what_trim_leaves_something_of() {
        let re = Regex::new(NOT_BLANK_PATTERN).unwrap();
        for s in ["a", " a ", "\u{85}x", "\u{feff}"] {
            assert!(re.is_match(s) && !s.trim().is_empty(), "{s:?}");
        }
        for s in [
            "",
            " ",
            "\t\n",
            "\u{85}",
            "\u{a0}\u{3000}",
            "\u{2028}",
            "a\u{0}",
        ] {
            assert!(!re.is_match(s), "{s:?}");
        }
        for c in (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| *c != '\0')
        {
            assert_eq!(re.is_match(&c.to_string()), !c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn urls_and_cves_are_their_patterns() {
        for good in ["http://x", "https://vendor.example/a?b=c#d"] {
            assert!(is_http_url(good), "{good}");
        }
        for bad in [
            "https://",
            "ftp://x",
            "https://a b",
            "https://a\u{85}",
            " https://a",
        ] {
            assert!(!is_http_url(bad), "{bad:?}");
        }
        assert!(is_cve("CVE-2026-12345") && is_cve("CVE-1999-0001"));
        for bad in [
            "cve-2026-12345",
            "CVE-26-12345",
            "CVE-2026-123",
            " CVE-2026-12345",
        ] {
            assert!(!is_cve(bad), "{bad}");
        }
    }

    #[test]
    fn uuids_are_hyphenated() {
        assert_eq!(
            uuid("01A232EB-7312-706F-A749-CA7AFC0C998A").as_deref(),
            Some("01a232eb-7312-706f-a749-ca7afc0c998a")
        );
        for bad in [
            "01a232eb7312706fa749ca7afc0c998a",
            "{01a232eb-7312-706f-a749-ca7afc0c998a}",
            "",
        ] {
            assert!(uuid(bad).is_none(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Every string the document's CIDR pattern allows is a range the service parses, so
        /// the pattern alone decides (the service checks both).
        #[test]
        fn every_cidr_the_pattern_allows_parses(
            s in proptest::string::string_regex(&CIDR_PATTERN[1..CIDR_PATTERN.len() - 1]).unwrap()
        ) {
            proptest::prop_assert!(s.parse::<ipnet::IpNet>().is_ok(), "{}", s);
        }
    }
}
