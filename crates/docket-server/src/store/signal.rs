//! Signals between nodes sharing one store: cache invalidations, job wake-ups and
//! progress, settings changes. A cluster store carries them (PostgreSQL `NOTIFY`, sent
//! inside the writing transaction, so they arrive in commit order); a single-node store
//! has no one to tell.

/// One signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Cases changed at `commit`; `by_job` when a bulk job changed them (the
    /// invalidation mode decides), otherwise a synchronous write (always dropped).
    Invalidate {
        commit: i64,
        by_job: bool,
        keys: Vec<String>,
    },
    /// Drop every entry read before `commit` (a deferred job's sweep).
    Sweep { commit: i64 },
    /// A job changed (progress, end).
    Job(String),
    /// New work was queued.
    Queued,
    /// Settings changed.
    Settings,
    /// Changes were recorded in the feed (long-polls and streams read again).
    Changes,
    /// A node's heartbeat, sent in the heartbeat's transaction: when a node hears its
    /// own beat `seq`, it has heard every signal committed before that beat was sent.
    Beat { node: String, seq: u64 },
    /// Made by the listener, never sent: the notification connection was lost, so
    /// signals may be missing until the next [`Signal::Resync`].
    Lost,
    /// Made by the listener, never sent: listening again; every signal committed after
    /// `position` will arrive, the ones at or before it may have been missed.
    Resync { position: i64 },
}

/// Largest payload PostgreSQL accepts is 8000 bytes; stay well under it.
const MAX_PAYLOAD: usize = 7_000;

impl Signal {
    /// Wire form(s): an invalidation of many keys may take several payloads.
    pub fn encode(&self) -> Vec<String> {
        match self {
            Signal::Invalidate {
                commit,
                by_job,
                keys,
            } => {
                let head = format!("i|{commit}|{}|", if *by_job { 'j' } else { 'w' });
                let mut out = Vec::new();
                let mut cur = head.clone();
                for k in keys {
                    if cur.len() + k.len() + 1 > MAX_PAYLOAD && cur.len() > head.len() {
                        cur.pop();
                        out.push(std::mem::replace(&mut cur, head.clone()));
                    }
                    cur.push_str(k);
                    cur.push(',');
                }
                if cur.len() > head.len() {
                    cur.pop();
                    out.push(cur);
                }
                out
            }
            Signal::Sweep { commit } => vec![format!("s|{commit}")],
            Signal::Job(id) => vec![format!("p|{id}")],
            Signal::Queued => vec!["q".into()],
            Signal::Settings => vec!["c".into()],
            Signal::Changes => vec!["f".into()],
            Signal::Beat { node, seq } => vec![format!("h|{seq}|{node}")],
            // Local events of the listener: nothing to send.
            Signal::Lost | Signal::Resync { .. } => Vec::new(),
        }
    }

    pub fn decode(payload: &str) -> Option<Self> {
        let mut parts = payload.splitn(4, '|');
        match parts.next()? {
            "i" => {
                let commit = parts.next()?.parse().ok()?;
                let by_job = parts.next()? == "j";
                let keys = parts
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                Some(Signal::Invalidate {
                    commit,
                    by_job,
                    keys,
                })
            }
            "s" => Some(Signal::Sweep {
                commit: parts.next()?.parse().ok()?,
            }),
            "p" => Some(Signal::Job(parts.next()?.to_owned())),
            "q" => Some(Signal::Queued),
            "c" => Some(Signal::Settings),
            "f" => Some(Signal::Changes),
            "h" => Some(Signal::Beat {
                seq: parts.next()?.parse().ok()?,
                node: parts.next()?.to_owned(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_and_big_invalidations_split() {
        for s in [
            Signal::Sweep { commit: 7 },
            Signal::Job("job-1".into()),
            Signal::Queued,
            Signal::Settings,
            Signal::Changes,
            Signal::Beat {
                node: "node-a1b2c3".into(),
                seq: 42,
            },
        ] {
            assert_eq!(Signal::decode(&s.encode()[0]), Some(s));
        }
        let keys: Vec<String> = (0..2_000).map(|i| format!("CASE-{i:06}")).collect();
        let big = Signal::Invalidate {
            commit: 9,
            by_job: true,
            keys: keys.clone(),
        };
        let parts = big.encode();
        assert!(parts.len() > 1 && parts.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let mut back = Vec::new();
        for p in &parts {
            match Signal::decode(p) {
                Some(Signal::Invalidate {
                    commit: 9,
                    by_job: true,
                    keys,
                }) => back.extend(keys),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, keys);
    }
}
