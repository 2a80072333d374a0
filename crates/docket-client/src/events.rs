//! Server-Sent Events, as `GET /api/v1/jobs/{id}/events` sends them: a `progress` event
//! per change, then one event named after the end state. Every event's data is the
//! job's status document.
//!
//! [`SseParser`] is incremental: bytes go in as they arrive, complete events come out;
//! a partial line waits for the rest.

use std::collections::VecDeque;

use docket_api::JobStatus;

use crate::{Error, Result};

/// One event of the stream, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field, when sent.
    pub id: Option<String>,
}

/// Turns a byte stream into events (the WHATWG "event stream interpretation").
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Vec<String>,
    id: Option<String>,
}

impl SseParser {
    /// Takes the next bytes; returns the events they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(n) = self.buf[start..].iter().position(|b| *b == b'\n') {
            let mut line = &self.buf[start..start + n];
            start += n + 1;
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            if let Some(event) = self.line(&line) {
                out.push(event);
            }
        }
        self.buf.drain(..start);
        out
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.event.clear();
                return None;
            }
            let event = SseEvent {
                event: if self.event.is_empty() {
                    "message".into()
                } else {
                    std::mem::take(&mut self.event)
                },
                data: std::mem::take(&mut self.data).join("\n"),
                id: self.id.clone(),
            };
            return Some(event);
        }
        if line.starts_with(':') {
            return None; // a comment: the keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

/// A job's status as one event of its stream reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// `progress`, or the end state: `completed`, `failed`, `cancelled`.
    pub name: String,
    pub status: JobStatus,
}

/// An open progress stream of one job.
#[derive(Debug)]
pub struct JobEvents {
    res: reqwest::Response,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl JobEvents {
    pub(crate) fn new(res: reqwest::Response, parser: SseParser) -> Self {
        Self {
            res,
            parser,
            ready: VecDeque::new(),
        }
    }

    /// The next event; `Ok(None)` when the server closed the stream (after the end
    /// event, or because it went away). A broken connection is an [`Error::Transport`].
    pub async fn next(&mut self) -> Result<Option<JobEvent>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                let status = serde_json::from_str(&e.data).map_err(|err| Error::Unexpected {
                    status: 200,
                    detail: format!("undecodable {} event: {err}", e.event),
                })?;
                return Ok(Some(JobEvent {
                    name: e.event,
                    status,
                }));
            }
            match self.res.chunk().await? {
                Some(bytes) => self.ready.extend(self.parser.push(&bytes)),
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: progress\nid: 3\nda").is_empty());
        let out = p.push(b"ta: {\"a\":1}\n\n: keep-alive\n\nevent: completed\r\ndata: x\r\n\r\n");
        assert_eq!(
            out,
            vec![
                SseEvent {
                    event: "progress".into(),
                    data: "{\"a\":1}".into(),
                    id: Some("3".into())
                },
                SseEvent {
                    event: "completed".into(),
                    data: "x".into(),
                    id: Some("3".into())
                },
            ]
        );
    }

    #[test]
    fn data_lines_join_and_unnamed_events_are_messages() {
        let mut p = SseParser::default();
        let out = p.push(b"data: a\ndata:b\n\n");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event, "message");
        assert_eq!(out[0].data, "a\nb");
    }
}
