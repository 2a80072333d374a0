//! The store's part for comments and internal notes on cases.

use async_trait::async_trait;

use super::{Actor, CommitSeq, Paged, Result};
use crate::domain::{
    CaseId, Comment, CommentChange, CommentKey, ItemError, NewComment, Visibility,
};

/// What a comment's change or deletion answers: the comment (as it is after, or as it
/// was when deleted) and the commit; or the domain's refusal (no such case, a stale
/// `If-Match`).
pub type CommentWrite = std::result::Result<(Comment, CommitSeq), ItemError>;

/// Comments and internal notes on cases. Writing or deleting one moves its case's
/// `commentCount`, so the case's version; each records its change in the feed.
#[async_trait]
pub trait CommentStore: Send + Sync + 'static {
    /// Writes a comment on a case. The inner `Err` if the case does not exist or has
    /// [`crate::domain::MAX_COMMENTS_PER_CASE`] comments.
    async fn create_comment(
        &self,
        case: &CaseId,
        new: NewComment,
        actor: Actor,
    ) -> Result<CommentWrite>;

    /// The case's comments, oldest first (of `visibility` only, if given). `None` if
    /// the case does not exist.
    async fn list_comments(
        &self,
        case: &CaseId,
        visibility: Option<Visibility>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Comment>>>;

    /// One comment of a case: `None` if the case does not exist, `Some(None)` if it has
    /// no such comment.
    async fn get_comment(&self, key: &CommentKey) -> Result<Option<Option<Comment>>>;

    /// Changes a comment (`expected`: the `If-Match` version). `NotFound` if the case
    /// has no such comment.
    async fn update_comment(
        &self,
        key: &CommentKey,
        change: CommentChange,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<CommentWrite>;

    /// Deletes a comment (`expected`: the `If-Match` version). `NotFound` if the case
    /// has no such comment.
    async fn delete_comment(
        &self,
        key: &CommentKey,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<CommentWrite>;
}
