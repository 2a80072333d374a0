//! `docket cases comment`, `comments`, `comment-get`, `comment-edit` and
//! `comment-delete`: a case's comments and internal notes.

use docket_api::{Comment, CommentPatch, CommentQuery, NewComment};

use super::jobs::{PageArgs, print_page};
use crate::Global;
use crate::exit::{Exit, input_error};
use crate::output::{self, Format, Table};

#[derive(clap::Args)]
pub struct CommentArgs {
    case: String,
    /// The comment's text, kept as given; `-` reads it from standard input.
    text: String,
    /// A public comment (the default is an internal note). A label, not a permission.
    #[arg(long)]
    public: bool,
}

#[derive(clap::Args)]
pub struct CommentsArgs {
    case: String,
    /// Only `internal` notes or only `public` comments.
    #[arg(long, value_name = "VISIBILITY")]
    visibility: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

#[derive(clap::Args)]
pub struct CommentIdArgs {
    case: String,
    comment: String,
}

#[derive(clap::Args)]
pub struct CommentEditArgs {
    case: String,
    comment: String,
    /// The new text, kept as given; `-` reads it from standard input. Left as it is
    /// when not given.
    text: Option<String>,
    /// Make it a public comment.
    #[arg(long, conflicts_with = "internal")]
    public: bool,
    /// Make it an internal note.
    #[arg(long)]
    internal: bool,
    /// Edit only if the comment is at this version.
    #[arg(long, value_name = "VERSION")]
    if_match: Option<u64>,
}

#[derive(clap::Args)]
pub struct CommentDeleteArgs {
    case: String,
    comment: String,
    /// Delete only if the comment is at this version.
    #[arg(long, value_name = "VERSION")]
    if_match: Option<u64>,
}

/// `text`, or standard input when it is `-`.
fn text_or_stdin(text: String) -> anyhow::Result<String> {
    if text == "-" {
        Ok(std::io::read_to_string(std::io::stdin())
            .map_err(|e| input_error(format!("cannot read standard input: {e}")))?)
    } else {
        Ok(text)
    }
}

/// Writes a comment; prints it.
pub async fn comment(args: CommentArgs, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    let new = NewComment {
        body: Some(text_or_stdin(args.text)?),
        visibility: Some(if args.public { "public" } else { "internal" }.into()),
    };
    let reply = client.create_comment(&args.case, &new).await?;
    print_comment(global, &reply.body, reply.consistency_token.as_deref())
}

/// Shows one comment: its fields, then its text as written.
pub async fn get(args: CommentIdArgs, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    let c = client.get_comment(&args.case, &args.comment).await?;
    let exit = print_comment(global, &c, None)?;
    if global.output != Format::Json {
        println!("\n{}", c.body);
    }
    Ok(exit)
}

/// Edits a comment; prints it.
pub async fn edit(args: CommentEditArgs, global: &Global) -> anyhow::Result<Exit> {
    let visibility = match (args.public, args.internal) {
        (true, _) => Some("public".to_owned()),
        (_, true) => Some("internal".to_owned()),
        _ => None,
    };
    if args.text.is_none() && visibility.is_none() {
        return Err(input_error(
            "nothing to change: give TEXT, --public or --internal",
        ));
    }
    let patch = CommentPatch {
        body: args.text.map(text_or_stdin).transpose()?,
        visibility,
    };
    let client = super::client(global)?;
    let reply = client
        .update_comment(&args.case, &args.comment, &patch, args.if_match)
        .await?;
    print_comment(global, &reply.body, reply.consistency_token.as_deref())
}

/// Deletes a comment.
pub async fn delete(args: CommentDeleteArgs, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    client
        .delete_comment(&args.case, &args.comment, args.if_match)
        .await?;
    if global.output == Format::Json {
        output::json(&serde_json::json!({
            "caseId": args.case, "commentId": args.comment, "deleted": true
        }))?;
    } else {
        println!("deleted {} of {}", args.comment, args.case);
    }
    Ok(Exit::Success)
}

/// Prints a comment: as JSON, or its fields but the text (with the write's consistency
/// token).
fn print_comment(global: &Global, c: &Comment, token: Option<&str>) -> anyhow::Result<Exit> {
    if global.output == Format::Json {
        output::json(c)?;
        return Ok(Exit::Success);
    }
    let mut pairs = vec![
        ("commentId", c.comment_id.clone()),
        ("caseId", c.case_id.clone()),
        ("visibility", c.visibility.clone()),
        ("author", c.author.clone()),
        ("createdAt", c.created_at.clone()),
        ("updatedAt", c.updated_at.clone()),
        ("version", c.version.to_string()),
    ];
    if let Some(t) = token {
        pairs.push(("consistencyToken", t.to_owned()));
    }
    output::fields(&pairs);
    Ok(Exit::Success)
}

/// Lists a case's comments, oldest first.
pub async fn comments(args: CommentsArgs, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    let page = &args.page;
    let mut q = CommentQuery {
        visibility: args.visibility.clone(),
        limit: page.limit.or(page.all.then_some(1000)),
        cursor: page.cursor.clone(),
    };
    let mut items = Vec::new();
    let next = loop {
        let p = client.list_comments(&args.case, &q).await?;
        items.extend(p.items);
        match p.next_cursor {
            Some(c) if page.all => q.cursor = Some(c),
            other => break other,
        }
    };
    print_page(global, &items, next, comment_table)
}

/// A comment's text in a table cell: its lines joined, shown as text.
fn comment_table(comments: &[Comment]) -> Table {
    let mut t = Table::new(&["COMMENT", "AT", "AUTHOR", "VISIBILITY", "BODY"]);
    for c in comments {
        t.row(vec![
            c.comment_id.clone(),
            c.created_at.clone(),
            c.author.clone(),
            c.visibility.clone(),
            c.body.replace(['\r', '\n'], " "),
        ]);
    }
    t
}
