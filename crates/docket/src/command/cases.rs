//! `docket cases`: create, get, list, update, delete, history (and comments, in
//! `comments.rs`).

use clap::Subcommand;
use docket_api::{Case, CasePatch, CaseQuery, CaseSort, HistoryEntry, NewCase, PageQuery};
use docket_client::Reply;
use serde_json::{Map, Value};

use super::jobs::{PageArgs, print_page};
use crate::Global;
use crate::exit::{Exit, input_error};
use crate::output::{self, Format, Table};

#[derive(Subcommand)]
pub enum Command {
    /// Create a case.
    Create(CreateArgs),
    /// Write a comment on a case: an internal note, or with --public a public comment.
    Comment(super::comments::CommentArgs),
    /// A case's comments and internal notes, oldest first.
    Comments(super::comments::CommentsArgs),
    /// Show one comment of a case.
    CommentGet(super::comments::CommentIdArgs),
    /// Edit a comment: its text, or whether it is public.
    CommentEdit(super::comments::CommentEditArgs),
    /// Delete a comment.
    CommentDelete(super::comments::CommentDeleteArgs),
    /// Show one case.
    Get {
        case: String,
        /// Read at least as new as the write that returned this token.
        #[arg(long, value_name = "TOKEN")]
        consistency_token: Option<String>,
    },
    /// List cases, with filters.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        /// RFC 3339 time: only cases changed since.
        #[arg(long, value_name = "TIME")]
        updated_since: Option<String>,
        /// RFC 3339 time: only cases last changed before.
        #[arg(long, value_name = "TIME")]
        updated_before: Option<String>,
        /// Only the case with this external id.
        #[arg(long, value_name = "ID")]
        external_id: Option<String>,
        /// Only cases whose title contains this text (ignoring case).
        #[arg(long = "q", visible_alias = "search", value_name = "TEXT")]
        q: Option<String>,
        /// Order: createdAt (default), -createdAt, updatedAt or -updatedAt.
        #[arg(long, value_name = "ORDER", allow_hyphen_values = true,
              value_parser = |s: &str| s.parse::<CaseSort>())]
        sort: Option<CaseSort>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Change one case now (synchronously).
    Update(UpdateArgs),
    /// Delete a case with its tasks, comments and history.
    Delete {
        case: String,
        /// Delete only if the case is at this version.
        #[arg(long, value_name = "VERSION")]
        if_match: Option<u64>,
    },
    /// Create cases (or upsert them by externalId) as one job from a JSON, NDJSON or CSV
    /// file.
    Import(super::import::Args),
    /// Delete cases as one job: ids from a file, or every case a filter matches.
    BulkDelete(super::bulk_delete::Args),
    /// A case's change log, newest first.
    History {
        case: String,
        #[command(flatten)]
        page: PageArgs,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The case's title.
    #[arg(long)]
    title: String,
    /// The id (generated as CASE-nnnnnn when absent).
    #[arg(long)]
    case_id: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Any non-terminal status (default: the workflow's initial one).
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    status_reason: Option<String>,
    /// Low, Medium, High or Critical.
    #[arg(long)]
    priority: Option<String>,
    #[arg(long)]
    assignee: Option<String>,
    /// A tag (repeat, or separate with commas).
    #[arg(long = "tag", value_delimiter = ',')]
    tags: Vec<String>,
    /// A custom field, NAME=VALUE (repeatable); VALUE is JSON when it parses as JSON.
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = super::key_value)]
    fields: Vec<(String, Value)>,
    /// The case's id in another system (unique).
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    case: String,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    status: Option<String>,
    #[arg(long, conflicts_with = "clear_status_reason")]
    status_reason: Option<String>,
    /// Remove the status reason.
    #[arg(long)]
    clear_status_reason: bool,
    #[arg(long)]
    priority: Option<String>,
    #[arg(long, conflicts_with = "unassign")]
    assignee: Option<String>,
    /// Remove the assignee.
    #[arg(long)]
    unassign: bool,
    /// Replace the tags (comma-separated; "" for none).
    #[arg(long, value_name = "TAGS")]
    tags: Option<String>,
    /// Set a custom field, NAME=VALUE (repeatable); VALUE is JSON when it parses as JSON,
    /// `null` removes the field.
    #[arg(long = "field", value_name = "NAME=VALUE", value_parser = super::key_value)]
    fields: Vec<(String, Value)>,
    /// Only if the case is still at this version (else 412 version_conflict).
    #[arg(long, value_name = "VERSION")]
    if_match: Option<u64>,
    /// Set the case's id in another system (unique).
    #[arg(long, value_name = "ID", conflicts_with = "clear_external_id")]
    external_id: Option<String>,
    /// Remove the case's external id.
    #[arg(long)]
    clear_external_id: bool,
}

pub async fn run(cmd: Command, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    match cmd {
        Command::Create(a) => {
            let new = NewCase {
                case_id: a.case_id,
                title: Some(a.title),
                description: a.description,
                status: a.status,
                status_reason: a.status_reason,
                priority: a.priority,
                assignee: a.assignee,
                tags: (!a.tags.is_empty()).then_some(a.tags),
                fields: fields(a.fields),
                external_id: a.external_id,
            };
            show(global, &client.create_case(&new).await?)?;
        }
        Command::Get {
            case,
            consistency_token,
        } => {
            let reply = match consistency_token {
                Some(t) => client.get_case_at(&case, &t).await?,
                None => client.get_case(&case).await?,
            };
            show(global, &reply)?;
        }
        Command::List {
            status,
            assignee,
            tag,
            updated_since,
            updated_before,
            external_id,
            q,
            sort,
            page,
        } => {
            let mut q = CaseQuery {
                status,
                assignee,
                tag,
                updated_since,
                updated_before,
                external_id,
                q,
                sort,
                limit: page.limit.or(page.all.then_some(1000)),
                cursor: page.cursor.clone(),
            };
            let mut items = Vec::new();
            let next = loop {
                let p = client.list_cases(&q).await?;
                items.extend(p.items);
                match p.next_cursor {
                    Some(c) if page.all => q.cursor = Some(c),
                    other => break other,
                }
            };
            return print_page(global, &items, next, case_table);
        }
        Command::Update(a) => {
            let patch = CasePatch {
                title: a.title,
                description: a.description,
                status: a.status,
                status_reason: if a.clear_status_reason {
                    Some(None)
                } else {
                    a.status_reason.map(Some)
                },
                priority: a.priority,
                assignee: if a.unassign {
                    Some(None)
                } else {
                    a.assignee.map(Some)
                },
                tags: a.tags.map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
                fields: fields(a.fields),
                expected_version: None,
                external_id: if a.clear_external_id {
                    Some(None)
                } else {
                    a.external_id.map(Some)
                },
            };
            if patch == CasePatch::default() {
                return Err(input_error(
                    "nothing to change: give at least one of --title, --description, --status, \
                     --status-reason, --clear-status-reason, --priority, --assignee, --unassign, \
                     --tags, --field",
                ));
            }
            show(
                global,
                &client.update_case(&a.case, &patch, a.if_match).await?,
            )?;
        }
        Command::Delete { case, if_match } => {
            let token = client.delete_case(&case, if_match).await?;
            if global.output == Format::Json {
                return output::json(&serde_json::json!({
                    "caseId": case, "deleted": true, "consistencyToken": token
                }))
                .map(|()| Exit::Success);
            }
            println!("deleted {case}");
        }
        Command::BulkDelete(args) => return super::bulk_delete::run(args, global).await,
        Command::Comment(args) => return super::comments::comment(args, global).await,
        Command::Comments(args) => return super::comments::comments(args, global).await,
        Command::CommentGet(args) => return super::comments::get(args, global).await,
        Command::CommentEdit(args) => return super::comments::edit(args, global).await,
        Command::CommentDelete(args) => return super::comments::delete(args, global).await,
        Command::Import(args) => return super::import::run(args, global).await,
        Command::History { case, page } => {
            let mut q = PageQuery {
                limit: page.limit.or(page.all.then_some(1000)),
                cursor: page.cursor.clone(),
            };
            let mut items = Vec::new();
            let next = loop {
                let p = client.history(&case, &q).await?;
                items.extend(p.items);
                match p.next_cursor {
                    Some(c) if page.all => q.cursor = Some(c),
                    other => break other,
                }
            };
            return print_page(global, &items, next, history_table);
        }
    }
    Ok(Exit::Success)
}

fn fields(pairs: Vec<(String, Value)>) -> Option<Map<String, Value>> {
    (!pairs.is_empty()).then(|| pairs.into_iter().collect())
}

/// One case: the API's case document as JSON, else `key: value` lines (with the write's
/// consistency token, when there was one).
fn show(global: &Global, reply: &Reply<Case>) -> anyhow::Result<()> {
    let c = &reply.body;
    if global.output == Format::Json {
        return output::json(c);
    }
    let mut pairs = vec![
        ("caseId", c.case_id.clone()),
        ("title", c.title.clone()),
        ("status", c.status.clone()),
        ("statusReason", output::opt(c.status_reason.as_deref())),
        ("priority", c.priority.clone()),
        ("assignee", output::opt(c.assignee.as_deref())),
        ("tags", c.tags.join(", ")),
        ("fields", Value::Object(c.fields.clone()).to_string()),
        ("openTasks", c.open_tasks.to_string()),
        ("commentCount", c.comment_count.to_string()),
        ("version", c.version.to_string()),
        ("createdAt", c.created_at.clone()),
        ("updatedAt", c.updated_at.clone()),
    ];
    if !c.description.is_empty() {
        pairs.insert(2, ("description", c.description.clone()));
    }
    if let Some(t) = &reply.consistency_token {
        pairs.push(("consistencyToken", t.clone()));
    }
    output::fields(&pairs);
    Ok(())
}

fn case_table(cases: &[Case]) -> Table {
    let mut t = Table::new(&[
        "CASE", "STATUS", "PRIORITY", "ASSIGNEE", "VERSION", "UPDATED", "TITLE",
    ]);
    for c in cases {
        t.row(vec![
            c.case_id.clone(),
            c.status.clone(),
            c.priority.clone(),
            output::opt(c.assignee.as_deref()),
            c.version.to_string(),
            c.updated_at.clone(),
            c.title.clone(),
        ]);
    }
    t
}

fn history_table(entries: &[HistoryEntry]) -> Table {
    let mut t = Table::new(&["AT", "ACTOR", "JOB", "FIELD", "FROM", "TO"]);
    for h in entries {
        t.row(vec![
            h.at.clone(),
            h.actor.clone(),
            output::opt(h.job_id.as_deref()),
            h.field.clone(),
            cell(&h.from),
            cell(&h.to),
        ]);
    }
    t
}

/// A JSON value as a cell: text without quotes.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
