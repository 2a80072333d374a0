//! `docket webhooks`: subscriptions that push the change feed to a URL (an admin key),
//! their secrets, test events, and the delivery log with redelivery.

use clap::Subcommand;
use docket_api::{
    CreatedWebhook, DeliveryQuery, NewWebhook, Webhook, WebhookDelivery, WebhookFilter,
    WebhookPatch,
};

use super::jobs::{PageArgs, print_page};
use crate::Global;
use crate::exit::{Exit, input_error};
use crate::output::{self, Format, Table};

/// Filter flags of `create` and `update`.
#[derive(clap::Args, Default)]
pub struct FilterArgs {
    /// Only changes whose case (after the change) has one of these statuses
    /// (repeat, or separate with commas).
    #[arg(long = "status", value_delimiter = ',')]
    status: Vec<String>,
    /// ... one of these assignees.
    #[arg(long = "assignee", value_delimiter = ',')]
    assignee: Vec<String>,
    /// ... one of these tags.
    #[arg(long = "tag", value_delimiter = ',')]
    tag: Vec<String>,
    /// Only changes of one of these fields (`status`, `priority`, `fields.channel`...).
    #[arg(long = "field", value_delimiter = ',')]
    fields: Vec<String>,
}

impl FilterArgs {
    fn given(&self) -> bool {
        !(self.status.is_empty()
            && self.assignee.is_empty()
            && self.tag.is_empty()
            && self.fields.is_empty())
    }

    fn filter(self) -> WebhookFilter {
        let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
        WebhookFilter {
            status: list(self.status),
            assignee: list(self.assignee),
            tag: list(self.tag),
            fields: list(self.fields),
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Subscribe a URL; prints the signing secret, once.
    Create {
        /// Where deliveries are POSTed.
        #[arg(long)]
        url: String,
        /// A change type (repeat, or separate with commas); `*` for all.
        #[arg(long = "event", value_delimiter = ',', required = true)]
        events: Vec<String>,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long)]
        description: Option<String>,
    },
    /// Every webhook.
    List,
    /// One webhook.
    Get { webhook: String },
    /// Change a webhook (a given filter flag replaces the whole filter).
    Update {
        webhook: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long = "event", value_delimiter = ',')]
        events: Vec<String>,
        #[command(flatten)]
        filter: FilterArgs,
        /// Remove the filter.
        #[arg(long, conflicts_with_all = ["status", "assignee", "tag", "fields"])]
        no_filter: bool,
        #[arg(long)]
        description: Option<String>,
        /// Send deliveries again (and clear why it was disabled).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Stop sending deliveries.
        #[arg(long)]
        disable: bool,
    },
    /// Remove a webhook and its delivery log.
    Delete { webhook: String },
    /// A new signing secret (printed once); the old one signs too for 24 hours.
    RotateSecret { webhook: String },
    /// Send a webhook.test event now.
    Test { webhook: String },
    /// The delivery log, newest first.
    Deliveries {
        webhook: String,
        /// pending, succeeded or failed.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Send a delivery again now.
    Redeliver { webhook: String, delivery: String },
}

pub async fn run(cmd: Command, global: &Global) -> anyhow::Result<Exit> {
    let client = super::client(global)?;
    match cmd {
        Command::Create {
            url,
            events,
            filter,
            description,
        } => {
            let new = NewWebhook {
                url,
                events,
                filter: filter.given().then(|| filter.filter()),
                description,
            };
            show_created(global, &client.create_webhook(&new).await?)?;
        }
        Command::List => {
            let page = client.list_webhooks().await?;
            return print_page(global, &page.items, None, webhook_table);
        }
        Command::Get { webhook } => show(global, &client.get_webhook(&webhook).await?)?,
        Command::Update {
            webhook,
            url,
            events,
            filter,
            no_filter,
            description,
            enable,
            disable,
        } => {
            let patch = WebhookPatch {
                url,
                events: (!events.is_empty()).then_some(events),
                filter: if no_filter {
                    Some(WebhookFilter::default())
                } else {
                    filter.given().then(|| filter.filter())
                },
                enabled: if enable {
                    Some(true)
                } else {
                    disable.then_some(false)
                },
                description,
            };
            if patch == WebhookPatch::default() {
                return Err(input_error(
                    "nothing to change: give --url, --event, a filter flag, --no-filter, \
                     --description, --enable or --disable",
                ));
            }
            show(global, &client.update_webhook(&webhook, &patch).await?)?;
        }
        Command::Delete { webhook } => {
            client.delete_webhook(&webhook).await?;
            if global.output == Format::Json {
                output::json(&serde_json::json!({"webhookId": webhook, "deleted": true}))?;
            } else {
                println!("deleted {webhook}");
            }
        }
        Command::RotateSecret { webhook } => {
            show_created(global, &client.rotate_webhook_secret(&webhook).await?)?;
        }
        Command::Test { webhook } => {
            let d = client.test_webhook(&webhook).await?;
            if global.output == Format::Json {
                output::json(&d)?;
            } else {
                println!("queued test delivery {}", d.delivery_id);
            }
        }
        Command::Deliveries {
            webhook,
            status,
            page,
        } => {
            let mut q = DeliveryQuery {
                status,
                cursor: page.cursor.clone(),
                limit: page.limit.or(page.all.then_some(1000)),
            };
            let mut items = Vec::new();
            let next = loop {
                let p = client.webhook_deliveries(&webhook, &q).await?;
                items.extend(p.items);
                match p.next_cursor {
                    Some(c) if page.all => q.cursor = Some(c),
                    other => break other,
                }
            };
            return print_page(global, &items, next, delivery_table);
        }
        Command::Redeliver { webhook, delivery } => {
            let d = client.redeliver_webhook(&webhook, &delivery).await?;
            if global.output == Format::Json {
                output::json(&d)?;
            } else {
                println!("{} is pending again", d.delivery_id);
            }
        }
    }
    Ok(Exit::Success)
}

fn pairs(w: &Webhook) -> Vec<(&'static str, String)> {
    vec![
        ("webhookId", w.webhook_id.clone()),
        ("url", w.url.clone()),
        ("events", w.events.join(", ")),
        (
            "filter",
            serde_json::to_string(&w.filter).unwrap_or_default(),
        ),
        ("description", output::opt(w.description.as_deref())),
        ("enabled", w.enabled.to_string()),
        ("disabledReason", output::opt(w.disabled_reason.as_deref())),
        ("createdAt", w.created_at.clone()),
        ("updatedAt", w.updated_at.clone()),
    ]
}

fn show(global: &Global, w: &Webhook) -> anyhow::Result<()> {
    if global.output == Format::Json {
        return output::json(w);
    }
    output::fields(&pairs(w));
    Ok(())
}

fn show_created(global: &Global, w: &CreatedWebhook) -> anyhow::Result<()> {
    if global.output == Format::Json {
        return output::json(w);
    }
    let mut p = pairs(&w.webhook);
    p.push(("secret", w.secret.clone()));
    output::fields(&p);
    eprintln!("docket: keep the secret now; it is not shown again");
    Ok(())
}

fn webhook_table(hooks: &[Webhook]) -> Table {
    let mut t = Table::new(&["WEBHOOK", "ENABLED", "EVENTS", "URL"]);
    for w in hooks {
        t.row(vec![
            w.webhook_id.clone(),
            w.enabled.to_string(),
            w.events.join(","),
            w.url.clone(),
        ]);
    }
    t
}

fn delivery_table(items: &[WebhookDelivery]) -> Table {
    let mut t = Table::new(&[
        "DELIVERY", "STATUS", "ATTEMPTS", "CODE", "TYPE", "CASE", "POSITION", "ERROR",
    ]);
    for d in items {
        t.row(vec![
            d.delivery_id.clone(),
            d.status.clone(),
            d.attempts.to_string(),
            output::opt(d.last_status_code),
            d.kind.clone(),
            output::opt(d.case_id.as_deref()),
            output::opt(d.position.as_deref()),
            output::opt(d.last_error.as_deref()),
        ]);
    }
    t
}
