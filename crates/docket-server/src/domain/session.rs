//! Console sessions: what the console's cookie holds instead of the API key it signed in
//! with. Pure: the randomness comes from the OS, the time from the caller.
//!
//! A session token is `dks_<64 hex digits>` (32 random bytes), issued at sign-in for one
//! key. Only its SHA-256 is stored, beside the key id, the creation time and the expiry;
//! the token itself lives only in the browser's HttpOnly cookie. A session authenticates
//! as its key while it is stored, unexpired, and its key unrevoked: sign-out deletes it,
//! revoking the key deletes the key's sessions, and expired ones are pruned.

use super::{Timestamp, hex, token_hash};

const SESSION_PREFIX: &str = "dks_";

/// A stored console session. `token_hash` is the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub token_hash: [u8; 32],
    /// The API key the session acts as.
    pub key_id: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl ConsoleSession {
    /// Whether the session still authenticates at `now` (it ends at `expires_at`).
    pub fn live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// A session and its token, as just issued: the token goes into the cookie, only its hash
/// into the store.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub session: ConsoleSession,
    pub token: String,
}

/// Whether `s` has the shape of a session token (so anything else is refused without a
/// store lookup).
pub fn is_session_token(s: &str) -> bool {
    s.strip_prefix(SESSION_PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new session for `key_id`, valid from `now` for `lifetime_ms`. Fails only when the OS
/// has no randomness to give (a session token must never come from anything weaker).
pub fn issue_session(
    key_id: &str,
    now: Timestamp,
    lifetime_ms: i64,
) -> Result<IssuedSession, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no OS randomness for a session: {e}"))?;
    let token = format!("{SESSION_PREFIX}{}", hex(&bytes));
    Ok(IssuedSession {
        session: ConsoleSession {
            token_hash: token_hash(&token),
            key_id: key_id.to_owned(),
            created_at: now,
            expires_at: Timestamp(now.0.saturating_add(lifetime_ms)),
        },
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_session_is_fresh_random_hashed_and_ends_at_its_expiry() {
        let a = issue_session("0123456789ab", Timestamp(1_000), 60_000).unwrap();
        let b = issue_session("0123456789ab", Timestamp(1_000), 60_000).unwrap();
        assert_ne!(a.token, b.token);
        assert!(is_session_token(&a.token), "{}", a.token);
        assert_eq!(a.session.token_hash, token_hash(&a.token));
        assert_eq!(a.session.expires_at, Timestamp(61_000));
        assert!(a.session.live_at(Timestamp(60_999)));
        assert!(!a.session.live_at(Timestamp(61_000)));
    }

    #[test]
    fn only_session_shaped_strings_are_session_tokens() {
        assert!(!is_session_token("dks_abc"));
        assert!(!is_session_token(&format!("dkt_{}", "a".repeat(64))));
        assert!(!is_session_token(&format!("dks_{}", "g".repeat(64))));
        assert!(is_session_token(&format!("dks_{}", "a".repeat(64))));
    }
}
