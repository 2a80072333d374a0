//! Comments and internal notes on a case.

use docket_api::{Comment, CommentPatch, CommentQuery, NewComment, Page};
use reqwest::Method;

use crate::{Client, Reply, Result, case_path, encode, ok_or_problem};

fn comment_path(case: &str, comment: &str) -> String {
    format!("{}/comments/{}", case_path(case), encode(comment))
}

impl Client {
    /// Writes a comment (or an internal note) on a case.
    pub async fn create_comment(&self, case: &str, new: &NewComment) -> Result<Reply<Comment>> {
        self.json(Method::POST, &format!("{}/comments", case_path(case)), new)
            .await
    }

    /// A page of a case's comments, oldest first.
    pub async fn list_comments(&self, case: &str, q: &CommentQuery) -> Result<Page<Comment>> {
        Ok(self
            .send(
                self.request(Method::GET, &format!("{}/comments", case_path(case)))
                    .query(q),
            )
            .await?
            .body)
    }

    /// One comment of a case.
    pub async fn get_comment(&self, case: &str, comment: &str) -> Result<Comment> {
        Ok(self
            .send(self.request(Method::GET, &comment_path(case, comment)))
            .await?
            .body)
    }

    /// Edits a comment (only at version `if_match` when given).
    pub async fn update_comment(
        &self,
        case: &str,
        comment: &str,
        patch: &CommentPatch,
        if_match: Option<u64>,
    ) -> Result<Reply<Comment>> {
        let mut rb = self
            .request(Method::PATCH, &comment_path(case, comment))
            .json(patch);
        if let Some(v) = if_match {
            rb = rb.header("if-match", format!("\"{v}\""));
        }
        self.send(rb).await
    }

    /// Deletes a comment (only at version `if_match` when given).
    pub async fn delete_comment(
        &self,
        case: &str,
        comment: &str,
        if_match: Option<u64>,
    ) -> Result<()> {
        let mut rb = self.request(Method::DELETE, &comment_path(case, comment));
        if let Some(v) = if_match {
            rb = rb.header("if-match", format!("\"{v}\""));
        }
        ok_or_problem(rb.send().await?).await?;
        Ok(())
    }
}
