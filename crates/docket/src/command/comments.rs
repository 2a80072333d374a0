//! `docket cases comment` and `docket cases comments`: a case's comments and internal
//! notes.

use docket_api::{Comment, CommentQuery, NewComment};

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

/// Writes a comment; prints it.
pub async fn comment(args: CommentArgs, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    let body = if args.text == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| input_error(format!("cannot read standard input: {e}")))?
    } else {
        args.text
    };
    let new = NewComment {
        body: Some(body),
        visibility: Some(if args.public { "public" } else { "internal" }.into()),
    };
    let reply = client.create_comment(&args.case, &new).await?;
    let c = &reply.body;
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
    ];
    if let Some(t) = &reply.consistency_token {
        pairs.push(("consistencyToken", t.clone()));
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
