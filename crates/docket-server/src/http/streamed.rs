//! A bulk body read as it arrives: a parser runs on a blocking thread over the bytes as
//! the client sends them, so a request of 1,000,000 items is never in memory whole,
//! neither as bytes nor as items (the parser spools each item, see [`crate::spool`]).
//! The body's SHA-256 is taken on the way (an `Idempotency-Key`'s request), and its
//! size is held to `server.max_body_bytes` as for every other body.

use std::io::{BufRead, BufReader, Read};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use docket_api::codes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use super::extract::{BodyFormat, body_format};

/// How much of a refused body is still read (and dropped) before the answer.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A bulk body, not yet read: its format (by its content type) and its bytes to come.
pub struct Streamed {
    pub format: BodyFormat,
    body: Body,
    limit: usize,
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        "the request body is larger than the server accepts",
    )
}

impl FromRequest<AppState> for Streamed {
    type Rejection = ApiError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, Self::Rejection> {
        let format = body_format(&req)?;
        let limit = s.config.server.max_body_bytes;
        let body = req.into_body();
        // A declared length over the limit is refused before any of the body is read.
        if http_body::Body::size_hint(&body).lower() > limit as u64 {
            return Err(too_large());
        }
        Ok(Self {
            format,
            body,
            limit,
        })
    }
}

/// The bytes the request task hands the parser, as a reader.
struct Incoming {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Incoming {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(bytes) => self.current = bytes,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Streamed {
    /// 415 unless the body is JSON (the bulk requests that take nothing else).
    pub fn json_only(&self) -> Result<(), ApiError> {
        if self.format == BodyFormat::Json {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON, with Content-Type: application/json",
        ))
    }

    /// Runs `parse` over the body as it arrives, on a blocking thread; its answer and
    /// the body's SHA-256. A body over the limit, or one that cannot be read, is refused
    /// whatever `parse` made of it; a `parse` that fails stops the reading.
    pub async fn parse<T, F>(self, parse: F) -> Result<(T, [u8; 32]), ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn BufRead) -> Result<T, ApiError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let parser = tokio::task::spawn_blocking(move || {
            let mut input = BufReader::with_capacity(
                64 * 1024,
                Incoming {
                    rx,
                    current: Bytes::new(),
                },
            );
            parse(&mut input)
        });
        let mut digest = Sha256::new();
        let mut read = 0usize;
        let mut refused = None;
        let mut stream = self.body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    read += bytes.len();
                    if read > self.limit {
                        refused = Some(too_large());
                        break;
                    }
                    digest.update(&bytes);
                    if tx.send(bytes).await.is_err() {
                        // The parser stopped: its answer says why.
                        break;
                    }
                }
                Err(e) => {
                    refused = Some(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        codes::MALFORMED_JSON,
                        format!("could not read the request body: {e}"),
                    ));
                    break;
                }
            }
        }
        drop(tx);
        // Refused before its end, the rest of a body is read and dropped, up to a
        // bound, so a client still sending reads the answer rather than a reset
        // connection (as servers "linger" before closing).
        let mut dropped = 0usize;
        while dropped < LINGER_BYTES {
            match stream.next().await {
                Some(Ok(bytes)) => dropped += bytes.len(),
                _ => break,
            }
        }
        let parsed = parser.await.map_err(|_| ApiError::internal())?;
        if let Some(e) = refused {
            return Err(e);
        }
        Ok((parsed?, digest.finalize().into()))
    }
}
