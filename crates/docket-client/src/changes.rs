//! The change feed (`/api/v1/changes`, its event stream) and case deletion.

use std::collections::VecDeque;

use docket_api::{Change, ChangePage, ChangeStreamQuery, ChangesQuery};
use reqwest::Method;

use crate::events::{SseEvent, SseParser};
use crate::{Client, Error, Result, case_path, ok_or_problem};

impl Client {
    /// One page of the feed after `q.after` (a 410 `cursor_expired` is an
    /// [`Error::Api`]). With `q.wait_seconds`, an empty page waits that long for a change.
    pub async fn list_changes(&self, q: &ChangesQuery) -> Result<ChangePage> {
        Ok(self
            .send(self.request(Method::GET, "/api/v1/changes").query(q))
            .await?
            .body)
    }

    /// Opens the feed's event stream; `last_event_id` resumes right after that change.
    pub async fn change_stream(
        &self,
        q: &ChangeStreamQuery,
        last_event_id: Option<&str>,
    ) -> Result<ChangeEvents> {
        let mut rb = self
            .request(Method::GET, "/api/v1/changes/stream")
            .query(q)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id);
        }
        let res = ok_or_problem(rb.send().await?).await?;
        Ok(ChangeEvents {
            res,
            parser: SseParser::default(),
            ready: VecDeque::new(),
        })
    }

    /// Deletes a case (only at version `if_match` when given); the answer's consistency
    /// token.
    pub async fn delete_case(&self, id: &str, if_match: Option<u64>) -> Result<Option<String>> {
        let mut rb = self.request(Method::DELETE, &case_path(id));
        if let Some(v) = if_match {
            rb = rb.header("if-match", format!("\"{v}\""));
        }
        let res = ok_or_problem(rb.send().await?).await?;
        Ok(res
            .headers()
            .get(docket_api::CONSISTENCY_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }
}

/// An open event stream of the feed.
#[derive(Debug)]
pub struct ChangeEvents {
    res: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl ChangeEvents {
    /// The next change; `Ok(None)` when the server closed the stream (reconnect with the
    /// last position seen). A broken connection is an [`Error::Transport`].
    pub async fn next(&mut self) -> Result<Option<Change>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                let change = serde_json::from_str(&e.data).map_err(|err| Error::Unexpected {
                    status: 200,
                    detail: format!("undecodable {} event: {err}", e.event),
                })?;
                return Ok(Some(change));
            }
            match self.res.chunk().await? {
                Some(bytes) => self.ready.extend(self.parser.push(&bytes)),
                None => return Ok(None),
            }
        }
    }
}
