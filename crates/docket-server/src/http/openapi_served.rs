//! The OpenAPI document as this server serves it: the document generated from the code
//! ([`super::openapi`]) made exactly as precise as the server, so that generated clients
//! work and a fuzzer finds no gap between what the document allows and what the server
//! accepts:
//!
//! - the configured workflow's statuses, the priorities, scopes, task statuses, job states
//!   and outcomes are each one named enum schema, referenced wherever a field, a filter or
//!   a response carries one;
//! - what a bulk job checks only when it applies an item (its bounds, patterns, enums,
//!   an item's comment) the request does not: such an item fails alone in the job's
//!   results, so `BulkItem`, `BulkCreateItem` and `BulkItemComment` take any value of
//!   each field's type;
//! - request schemas carry no `default` (a generated client would send every defaulted
//!   field on a partial change): the default is said in the description instead;
//!   `Settings` (every setting, as read) and `SettingsPatch` (any of them, as changed)
//!   are two schemas;
//! - `limit` and `waitSeconds` have the configured maxima, which the server enforces;
//! - text fields say what the server refuses: control characters, and blank titles;
//! - timestamps are `date-time`; `servers` names this server;
//! - the bulk `200` is a union discriminated by `kind`;
//! - the event stream is a `text/event-stream` string, each event's data a `JobEvent`.

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::domain::{Scope, Workflow};

/// The white space the server trims from text (Unicode `White_Space`).
const SPACE: &str = "\\t\\n\\u000B\\u000C\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
/// The case listing's cursors: each order's own form (see `http::cursor`).
const CASE_CURSOR: &str = "^(|n[0-9]{1,18}|createdAtDesc\\.[0-9]{1,18}|updatedAt\\.[0-9]{1,15}\\.[0-9]{1,18}|updatedAtDesc\\.[0-9]{1,15}\\.[0-9]{1,18})$";
/// The control characters the server refuses in text (U+0000-U+001F and U+007F-U+009F,
/// but tab, line feed and carriage return), as the inside of a character class.
const CONTROL: &str = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F";
/// Every control character, tab, line feed and carriage return included.
const ANY_CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";

/// A comment's `visibility`, as the server reads it: either name in any case, trimmed
/// of white space; in a query, of the white space that is not a control character (a
/// query refuses those first, see `extract::refused_in_query`).
fn visibility_pattern(query: bool) -> String {
    let space = if query {
        SPACE.replace("\\u000B\\u000C", "").replace("\\u0085", "")
    } else {
        SPACE.to_owned()
    };
    format!("^[{space}]*([Ii][Nn][Tt][Ee][Rr][Nn][Aa][Ll]|[Pp][Uu][Bb][Ll][Ii][Cc])[{space}]*$")
}

/// A text holding none of the characters of `class` (the inside of a character class).
fn none_of(class: &str) -> String {
    format!("^[^{class}]*$")
}

/// A text that is not blank once trimmed; `control` says whether control characters are
/// refused too. (The patterns hold in ECMA-262 and in Python, whose `[^]` is an error.)
fn not_blank(control: bool, extra: &str) -> String {
    let ctl = if control { CONTROL } else { "" };
    let any = if ctl.is_empty() && extra.is_empty() {
        "[\\s\\S]".to_owned()
    } else {
        format!("[^{ctl}{extra}]")
    };
    format!("^{any}*[^{SPACE}{ctl}{extra}]{any}*$")
}

/// The served JSON.
pub fn served_json(doc: &utoipa::openapi::OpenApi, workflow: &Workflow, config: &Config) -> String {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    refine(&mut v, workflow, config);
    v.to_string()
}

fn refine(v: &mut Value, workflow: &Workflow, config: &Config) {
    let Some(doc) = v.as_object_mut() else {
        return;
    };
    doc.insert(
        "servers".into(),
        json!([{"url": "/", "description": "This server (paths are relative to where this document is served)."}]),
    );
    if let Some(schemas) = doc
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        enums(schemas, workflow);
        no_defaults(schemas);
        schemas.values_mut().for_each(single_one_of);
        settings(schemas);
        text_rules(schemas);
        limits(schemas);
        checked_when_applied(schemas);
        bulk_union(schemas);
        for schema in schemas.values_mut() {
            timestamps(schema);
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                operation(path, method, op, config);
            }
        }
    }
}

/// Each enum once, as a named schema.
fn enums(schemas: &mut Map<String, Value>, workflow: &Workflow) {
    let statuses: Vec<&str> = workflow.statuses().iter().map(|s| s.as_str()).collect();
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    let initial: Vec<&str> = workflow.non_terminal().map(|s| s.as_str()).collect();
    let named = [
        (
            "Status",
            json!(statuses),
            "A case status of this server's workflow (matched case-insensitively on input).",
        ),
        (
            "InitialStatus",
            json!(initial),
            "A status a case may be created in: any of the workflow's but the terminal ones.",
        ),
        (
            "Priority",
            json!(["Low", "Medium", "High", "Critical"]),
            "A case priority (matched case-insensitively on input).",
        ),
        (
            "Scope",
            json!(scopes),
            "What an API key may do; `admin` grants everything.",
        ),
        ("TaskStatus", json!(["open", "done"]), "A task's status."),
        (
            "JobState",
            json!(["queued", "running", "completed", "failed", "cancelled"]),
            "A job's state: `queued -> running -> completed | failed | cancelled`.",
        ),
        (
            "JobOutcome",
            json!(["succeeded", "partial", "none"]),
            "How an ended job's items fared: all, some or none applied.",
        ),
        (
            "ItemOutcome",
            json!(["succeeded", "failed", "cancelled"]),
            "How one item of a job fared.",
        ),
    ];
    for (name, values, description) in named {
        schemas.insert(
            name.into(),
            json!({"type": "string", "enum": values, "description": description}),
        );
    }
    let uses = [
        ("Case", "status", "Status"),
        ("Case", "priority", "Priority"),
        ("NewCase", "status", "InitialStatus"),
        ("NewCase", "priority", "Priority"),
        ("CasePatch", "status", "Status"),
        ("CasePatch", "priority", "Priority"),
        ("CaseStatus", "status", "Status"),
        ("Task", "status", "TaskStatus"),
        ("TaskPatch", "status", "TaskStatus"),
        ("JobStatus", "status", "JobState"),
        ("BulkAccepted", "status", "JobState"),
        ("JobStatus", "outcome", "JobOutcome"),
        ("ItemResult", "outcome", "ItemOutcome"),
    ];
    for (schema, field, name) in uses {
        if let Some(p) = property(schemas, schema, field) {
            *p = reference(p, name);
        }
    }
    // (`CreatedApiKey` is `ApiKey` and its token.)
    for schema in ["NewApiKey", "ApiKey", "Identity"] {
        if let Some(items) = property(schemas, schema, "scopes").and_then(|p| p.get_mut("items")) {
            *items = json!({"$ref": "#/components/schemas/Scope"});
        }
    }
}

/// A property schema replaced by a reference to a named enum, keeping `null` where the
/// field allowed it and its description.
fn reference(p: &Value, name: &str) -> Value {
    let target = json!({"$ref": format!("#/components/schemas/{name}")});
    let nullable = p
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|a| a.contains(&Value::from("null")));
    let mut out = if nullable {
        json!({"anyOf": [target, {"type": "null"}]})
    } else {
        target
    };
    if let Some(d) = p.get("description") {
        out["description"] = d.clone();
    }
    out
}

fn property<'a>(
    schemas: &'a mut Map<String, Value>,
    schema: &str,
    field: &str,
) -> Option<&'a mut Value> {
    schemas
        .get_mut(schema)?
        .get_mut("properties")?
        .get_mut(field)
}

/// Every `default` becomes words in the description.
fn no_defaults(schemas: &mut Map<String, Value>) {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                if let Some(d) = o.remove("default") {
                    if !d.is_null() {
                        let said = format!("Default: `{d}`.");
                        let description = match o.get("description").and_then(Value::as_str) {
                            Some(text) => format!("{text} {said}"),
                            None => said,
                        };
                        o.insert("description".into(), description.into());
                    }
                }
                for (k, child) in o.iter_mut() {
                    if k != "example" && k != "examples" && k != "enum" {
                        walk(child);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    schemas.values_mut().for_each(walk);
}

/// A `oneOf` of one schema (how utoipa says "this named schema, with a description") is
/// that schema.
fn single_one_of(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let single = o
                .get("oneOf")
                .and_then(Value::as_array)
                .filter(|a| a.len() == 1)
                .map(|a| a[0].clone());
            if let Some(Value::Object(inner)) = single {
                o.remove("oneOf");
                for (k, x) in inner {
                    o.entry(k).or_insert(x);
                }
            }
            o.values_mut().for_each(single_one_of);
        }
        Value::Array(a) => a.iter_mut().for_each(single_one_of),
        _ => {}
    }
}

/// `Settings` as read (every setting present) and `SettingsPatch` as changed (any).
fn settings(schemas: &mut Map<String, Value>) {
    let Some(settings) = schemas.get_mut("Settings") else {
        return;
    };
    let mut patch = settings.clone();
    let names: Vec<Value> = settings
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(|k| Value::from(k.as_str())).collect())
        .unwrap_or_default();
    settings["required"] = names.into();
    settings["description"] = "Every runtime setting, under the seed's names.".into();
    if let Some(o) = patch.as_object_mut() {
        o.remove("required");
        o.insert(
            "description".into(),
            "The settings to change: any of them; the others stay as they are.".into(),
        );
    }
    schemas.insert("SettingsPatch".into(), patch);
}

/// What the server refuses in text, said in the schemas: control characters in case
/// text, blank titles and tags, commas in tags.
fn text_rules(schemas: &mut Map<String, Value>) {
    let title = not_blank(true, "");
    let tag = not_blank(true, ",");
    for schema in ["NewCase", "CasePatch"] {
        for field in ["description", "statusReason", "assignee"] {
            if let Some(p) = property(schemas, schema, field) {
                p["pattern"] = none_of(CONTROL).into();
            }
        }
        if let Some(p) = property(schemas, schema, "title") {
            p["pattern"] = title.clone().into();
        }
        if let Some(items) = property(schemas, schema, "tags").and_then(|p| p.get_mut("items")) {
            items["pattern"] = tag.clone().into();
            items["minLength"] = 1.into();
            items["maxLength"] = 64.into();
        }
    }
    if let Some(p) = property(schemas, "NewApiKey", "name") {
        p["pattern"] = none_of(ANY_CONTROL).into();
    }
    for schema in ["NewTask", "TaskPatch"] {
        if let Some(p) = property(schemas, schema, "title") {
            p["pattern"] = not_blank(false, "").into();
        }
    }
    // A comment's body is kept as given, but not blank and without control characters.
    for schema in ["NewComment", "CommentPatch"] {
        if let Some(p) = property(schemas, schema, "body") {
            p["pattern"] = title.clone().into();
        }
        if let Some(p) = property(schemas, schema, "visibility") {
            p["pattern"] = visibility_pattern(false).into();
        }
    }
}

/// Custom fields' limits (the size limit, 32 KiB serialized, cannot be said in a
/// schema), and the bulk body's bare-array form, which needs an item like the object form.
fn limits(schemas: &mut Map<String, Value>) {
    for schema in ["NewCase", "CasePatch"] {
        if let Some(p) = property(schemas, schema, "fields") {
            p["maxProperties"] = crate::domain::MAX_FIELDS.into();
            p["propertyNames"] = json!({"type": "string", "minLength": 1, "maxLength": crate::domain::MAX_FIELD_NAME});
        }
    }
    if let Some(forms) = schemas
        .get_mut("BulkBody")
        .and_then(|b| b.get_mut("oneOf"))
        .and_then(Value::as_array_mut)
    {
        for form in forms {
            if form.get("type").and_then(Value::as_str) == Some("array") {
                form["minItems"] = 1.into();
            }
        }
    }
}

/// `schema` with every bound, pattern and required member taken off: what a request
/// takes for a part the server checks only when it applies the item.
fn loosened(schema: &Value) -> Value {
    fn loosen(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for k in [
                    "maxLength",
                    "minLength",
                    "maxItems",
                    "minItems",
                    "pattern",
                    "maxProperties",
                    "propertyNames",
                    "required",
                ] {
                    o.remove(k);
                }
                o.values_mut().for_each(loosen);
            }
            Value::Array(a) => a.iter_mut().for_each(loosen),
            _ => {}
        }
    }
    let mut out = schema.clone();
    loosen(&mut out);
    out
}

/// A bulk item is checked when it is applied, not when the request is read: one that
/// cannot apply fails that item alone in the job's results (`validation_failed`, or
/// `case_not_found` for no such case) and the other items apply, so the request takes any
/// value of each field's type.
/// - A bulk update's `BulkItem` keeps its required `caseId`; its fields are loosened.
/// - A bulk create's item is `BulkCreateItem`: `NewCase` loosened (no title, a malformed
///   `caseId`, a value out of bounds, a status the workflow does not start in: the item
///   fails).
/// - A bulk update item's `comment` is `BulkItemComment`: `NewComment` loosened (a blank
///   body, an unknown visibility: the item fails). A filter job's `set` is checked before
///   the job exists, so its `comment` stays `NewComment`.
fn checked_when_applied(schemas: &mut Map<String, Value>) {
    /// `status` and `priority` as any string (their enums are said in the description).
    fn any_status_or_priority(props: &mut Map<String, Value>) {
        for (field, named) in [("status", "Status"), ("priority", "Priority")] {
            let Some(old) = props.get(field) else {
                continue;
            };
            let mut p = json!({"type": ["string", "null"], "description": format!(
                "A `{named}` (see that schema); one the server does not take fails the item."
            )});
            if let Some(example) = old.get("example") {
                p["example"] = example.clone();
            }
            props.insert(field.into(), p);
        }
    }
    if let Some(props) = schemas
        .get_mut("BulkItem")
        .and_then(|b| b.get_mut("properties"))
        .and_then(Value::as_object_mut)
    {
        for p in props.values_mut() {
            *p = loosened(p);
            // (`format: int64` would bound `expectedVersion` below what it takes.)
            if let Some(o) = p.as_object_mut() {
                o.remove("format");
            }
        }
        any_status_or_priority(props);
    }
    let (Some(mut item), Some(mut comment)) = (
        schemas.get("NewCase").map(loosened),
        schemas.get("NewComment").map(loosened),
    ) else {
        return;
    };
    if let Some(props) = item.get_mut("properties").and_then(Value::as_object_mut) {
        any_status_or_priority(props);
        if let Some(title) = props.get_mut("title").and_then(Value::as_object_mut) {
            title.insert("type".into(), json!(["string", "null"]));
            title.insert(
                "description".into(),
                "The case's title; an item without one fails alone (`validation_failed`).".into(),
            );
        }
    }
    item["description"] = "One case of a bulk create, as `NewCase` takes it. It is checked when it is applied: an item that `NewCase` would refuse fails alone in the job's results (`validation_failed`), and the other items apply.".into();
    schemas.insert("BulkCreateItem".into(), item);
    if let Some(items) =
        property(schemas, "BulkCreateRequest", "cases").and_then(|p| p.get_mut("items"))
    {
        *items = json!({"$ref": "#/components/schemas/BulkCreateItem"});
    }
    if let Some(body) = comment.pointer_mut("/properties/body") {
        body["type"] = json!(["string", "null"]);
    }
    comment["description"] = "A bulk item's comment, as `NewComment` takes it. It is checked when the item is applied: a comment that `NewComment` would refuse (a blank body, an unknown visibility) fails the item alone (`validation_failed`).".into();
    schemas.insert("BulkItemComment".into(), comment);
    if let Some(Value::Array(forms)) =
        property(schemas, "BulkItem", "comment").and_then(|p| p.get_mut("oneOf"))
    {
        for form in forms {
            if form.get("$ref").is_some() {
                form["$ref"] = "#/components/schemas/BulkItemComment".into();
            }
        }
    }
}

/// The bulk `200`: `kind` tells `accepted` (the stored job) from `job` (waited for, ended).
fn bulk_union(schemas: &mut Map<String, Value>) {
    if let Some(accepted) = schemas.get_mut("BulkAccepted") {
        accepted["properties"]["kind"] = json!({"type": "string", "enum": ["accepted"]});
        if let Some(r) = accepted.get_mut("required").and_then(Value::as_array_mut) {
            r.insert(0, "kind".into());
        }
    }
    schemas.insert(
        "EndedJob".into(),
        json!({
            "description": "A bulk update waited for (`waitForCompletion`) that has ended: the job with its first results.",
            "allOf": [
                {"$ref": "#/components/schemas/Job"},
                {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": ["job"]}}}
            ]
        }),
    );
    schemas.insert(
        "BulkAnswer".into(),
        json!({
            "description": "The `200` of a bulk update, tagged by `kind`: `accepted` once the job is stored; `job` when the caller waited and the job has ended.",
            "oneOf": [
                {"$ref": "#/components/schemas/BulkAccepted"},
                {"$ref": "#/components/schemas/EndedJob"}
            ],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {
                    "accepted": "#/components/schemas/BulkAccepted",
                    "job": "#/components/schemas/EndedJob"
                }
            }
        }),
    );
}

/// `*At` and `since` strings are RFC 3339 timestamps.
fn timestamps(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, p) in props.iter_mut() {
        if !(name.ends_with("At") || name == "since") {
            continue;
        }
        let is_text = match p.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(a)) => a.contains(&Value::from("string")),
            _ => false,
        };
        if is_text {
            p["format"] = "date-time".into();
        }
    }
}

/// Per operation: parameter maxima and patterns, the settings patch body, the event
/// stream's content, and a description where the code gave only a summary.
fn operation(path: &str, method: &str, op: &mut Value, config: &Config) {
    let Some(op) = op.as_object_mut() else {
        return;
    };
    if !op.contains_key("description") {
        if let Some(summary) = op.get("summary").cloned() {
            op.insert("description".into(), summary);
        }
    }
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in params {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let located = matches!(p.get("in").and_then(Value::as_str), Some("query" | "path"));
            let Some(schema) = p.get_mut("schema") else {
                continue;
            };
            match name.as_str() {
                // The feed's pages have a limit of their own.
                "limit" if path.starts_with("/api/v1/changes") => {
                    schema["maximum"] = crate::http::changes::MAX_LIMIT.into();
                }
                "limit" => schema["maximum"] = config.limits.max_page_size.into(),
                "visibility" => schema["pattern"] = visibility_pattern(true).into(),
                // The feed caps any longer wait at the long-poll limit (it does not refuse it).
                "waitSeconds" if path.starts_with("/api/v1/changes") => {
                    *schema = json!({"type": "integer", "minimum": 0, "maximum": u32::MAX});
                }
                "types" if path.starts_with("/api/v1/changes") => {
                    let one = docket_api::CHANGE_TYPES
                        .iter()
                        .map(|t| t.replace('.', "\\."))
                        .collect::<Vec<_>>()
                        .join("|");
                    schema["pattern"] = format!("^(|({one})(,({one}))*)$").into();
                }
                "waitSeconds" => {
                    schema["maximum"] = config.jobs.max_wait_seconds.into();
                    schema["minimum"] = 0.into();
                }
                "after" if path.starts_with("/api/v1/changes") => {
                    schema["pattern"] = "^(|now|c?[0-9]{1,18})$".into();
                }
                "Last-Event-ID" => schema["pattern"] = "^c?[0-9]{1,18}$".into(),
                "status" if path.ends_with("/deliveries") => {
                    *schema = json!({"type": "string", "enum": ["pending", "succeeded", "failed"]});
                }
                "status" if path == "/api/v1/cases" => {
                    *schema = json!({"$ref": "#/components/schemas/Status"})
                }
                "status" if path == "/api/v1/jobs" => {
                    *schema = json!({"$ref": "#/components/schemas/JobState"})
                }
                "outcome" => *schema = json!({"$ref": "#/components/schemas/ItemOutcome"}),
                "Idempotency-Key" => {
                    *schema = json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([\\t -~]*[!-~])?$"});
                }
                "cursor" if path == "/api/v1/cases" => {
                    schema["pattern"] = CASE_CURSOR.into();
                }
                "cursor" => schema["pattern"] = "^(|n[0-9]{1,18})$".into(),
                "q" => {
                    schema["pattern"] = format!("^(|[^{CONTROL}]{{3,}})$").into();
                }
                "X-Consistency-Token" => {
                    *schema =
                        json!({"type": "string", "pattern": "^c?[0-9]{1,18}$", "example": "c42"});
                }
                _ => {}
            }
            // Control characters are refused in every query and path parameter.
            let is_text = schema.get("type").and_then(Value::as_str) == Some("string");
            if is_text && located && schema.get("pattern").is_none() {
                schema["pattern"] = none_of(CONTROL).into();
            }
        }
    }
    if path == "/api/v1/settings" && method == "patch" {
        if let Some(body) = op.get_mut("requestBody") {
            body["content"]["application/json"]["schema"] =
                json!({"$ref": "#/components/schemas/SettingsPatch"});
        }
    }
    if path.ends_with("/events") {
        // Open API 3.1 has `schema` describe one event (an object of `event`, `id` and
        // `data`), which generators cannot read from a stream; left open, a generated
        // client hands over the stream's text, and each event's `data` is described in
        // words. (`itemSchema` is Open API 3.2.)
        if let Some(ok) = op.get_mut("responses").and_then(|r| r.get_mut("200")) {
            ok["content"] = json!({
                "text/event-stream": {
                    "schema": {
                        "description": "Server-sent events, one per change of the job: `event` is the job's state, `id` counts from 1, `data` is a `JobEvent` (JSON). The stream ends after the event of the job's end."
                    }
                }
            });
        }
    }
}
