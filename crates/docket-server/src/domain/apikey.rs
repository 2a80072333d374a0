//! API keys: scopes, tokens and their hashes. Pure: the randomness comes from the OS,
//! the time from the caller.
//!
//! A token is `dkt_<keyId>_<64 hex digits>`: the key id (12 hex digits) finds the key,
//! the 32 random bytes after it are the secret. Only the SHA-256 of the whole token is
//! stored; a presented token is hashed and compared with the stored hash in constant
//! time, so neither the store nor the timing of a refusal gives the secret away.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::{FieldError, Timestamp, hex};

/// What a key may do. `Admin` includes every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read cases, their history and tasks; refresh-status.
    CasesRead,
    /// Create and change cases and tasks; submit, cancel, retry and delete bulk jobs.
    CasesWrite,
    /// Read jobs: status, results, progress stream, callbacks.
    JobsRead,
    /// Everything, plus the settings and the keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::CasesRead,
        Scope::CasesWrite,
        Scope::JobsRead,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CasesRead => "cases:read",
            Scope::CasesWrite => "cases:write",
            Scope::JobsRead => "jobs:read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|sc| sc.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "'{s}' is not a scope; the scopes are cases:read, cases:write, jobs:read, admin"
                )
            })
    }
}

/// Longest key name.
pub const MAX_KEY_NAME: usize = 100;
/// Length of a key id (hex digits).
const KEY_ID_LEN: usize = 12;
const TOKEN_PREFIX: &str = "dkt_";

/// A stored key. `token_hash` is the SHA-256 of the token; the token itself is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: Option<String>,
    /// Sorted, without repeats.
    pub scopes: Vec<Scope>,
    pub token_hash: [u8; 32],
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// Whether the key grants `scope` (an unrevoked key with the scope, or with `admin`).
    pub fn grants(&self, scope: Scope) -> bool {
        self.revoked_at.is_none()
            && self
                .scopes
                .iter()
                .any(|s| *s == scope || *s == Scope::Admin)
    }

    /// Whether `token` is this key's, compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        same_bytes(&token_hash(token), &self.token_hash)
    }

    /// Who wrote a change made with this key: its name, or its id when it has none.
    pub fn actor(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("key {}", self.id))
    }
}

/// A key and its token, as just created: the token is shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub token: String,
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && std::hint::black_box(diff) == 0
}

/// SHA-256 of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The key id a token names, if it has the shape of a token.
pub fn token_key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == KEY_ID_LEN
        && secret.len() == 64
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.bytes().all(|b| b.is_ascii_hexdigit()))
    .then_some(id)
}

/// Whether `s` has the shape of a key id (so a path naming anything else is a 404
/// without a store lookup).
pub fn is_key_id(s: &str) -> bool {
    s.len() == KEY_ID_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parses a request for a key: a name (optional, at most [`MAX_KEY_NAME`] characters)
/// and one or more scopes. Every complaint names its field.
pub fn parse_new_key(
    name: Option<String>,
    scopes: &[String],
) -> Result<(Option<String>, Vec<Scope>), Vec<FieldError>> {
    let mut errors = Vec::new();
    // Checked as sent (what the API description's `maxLength` and `pattern` say), kept
    // trimmed.
    if let Some(n) = &name {
        if n.chars().count() > MAX_KEY_NAME {
            errors.push(FieldError::new(
                "name",
                &format!("must be at most {MAX_KEY_NAME} characters"),
            ));
        } else if n.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }
    }
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if scopes.is_empty() {
        errors.push(FieldError::new(
            "scopes",
            "name at least one of cases:read, cases:write, jobs:read, admin",
        ));
    }
    let mut parsed = Vec::with_capacity(scopes.len());
    for (i, s) in scopes.iter().enumerate() {
        match s.parse::<Scope>() {
            Ok(sc) => parsed.push(sc),
            Err(m) => errors.push(FieldError::new(&format!("scopes[{i}]"), &m)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    parsed.sort();
    parsed.dedup();
    Ok((name, parsed))
}

/// A new key with a fresh token. Fails only when the OS has no randomness to give
/// (a token must never come from anything weaker).
pub fn issue_key(
    name: Option<String>,
    scopes: Vec<Scope>,
    now: Timestamp,
) -> Result<IssuedKey, String> {
    let mut bytes = [0u8; KEY_ID_LEN / 2 + 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness for a token: {e}"))?;
    let id = hex(&bytes[..KEY_ID_LEN / 2]);
    let token = format!("{TOKEN_PREFIX}{id}_{}", hex(&bytes[KEY_ID_LEN / 2..]));
    Ok(IssuedKey {
        key: ApiKey {
            id,
            name,
            scopes,
            token_hash: token_hash(&token),
            created_at: now,
            revoked_at: None,
        },
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_matches_its_key_only() {
        let a = issue_key(None, vec![Scope::CasesRead], Timestamp(1)).unwrap();
        let b = issue_key(None, vec![Scope::CasesRead], Timestamp(1)).unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(token_key_id(&a.token), Some(a.key.id.as_str()));
        assert!(a.key.matches(&a.token));
        assert!(!a.key.matches(&b.token));
        let mut tampered = a.token.clone();
        tampered.pop();
        tampered.push(if a.token.ends_with('0') { '1' } else { '0' });
        assert!(!a.key.matches(&tampered));
        assert!(a.token.starts_with("dkt_") && a.token.len() == 4 + 12 + 1 + 64);
    }

    #[test]
    fn admin_grants_every_scope_and_revocation_grants_none() {
        let mut k = issue_key(None, vec![Scope::Admin], Timestamp(1))
            .unwrap()
            .key;
        assert!(Scope::ALL.iter().all(|s| k.grants(*s)));
        k.revoked_at = Some(Timestamp(2));
        assert!(!Scope::ALL.iter().any(|s| k.grants(*s)));
        let r = issue_key(None, vec![Scope::JobsRead], Timestamp(1))
            .unwrap()
            .key;
        assert!(r.grants(Scope::JobsRead) && !r.grants(Scope::CasesRead));
    }

    #[test]
    fn key_requests_name_every_bad_field() {
        let errs = parse_new_key(Some("x".repeat(101)), &["cases:read".into(), "root".into()])
            .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "scopes[1]"]);
        assert_eq!(parse_new_key(None, &[]).unwrap_err()[0].field, "scopes");
        let (name, scopes) =
            parse_new_key(Some(" ci ".into()), &["admin".into(), "admin".into()]).unwrap();
        assert_eq!((name.as_deref(), scopes), (Some("ci"), vec![Scope::Admin]));
    }

    #[test]
    fn only_token_shaped_strings_name_a_key() {
        assert_eq!(token_key_id("dkt_abc"), None);
        assert_eq!(
            token_key_id(&format!("dkt_{}_{}", "a".repeat(12), "0".repeat(63))),
            None
        );
        assert!(token_key_id(&format!("dkt_{}_{}", "a".repeat(12), "0".repeat(64))).is_some());
    }
}
