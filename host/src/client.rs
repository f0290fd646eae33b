//! The operator CLI: `push`, `canary`, `status` and `history` over the
//! admin API of any host (they all share the release state). Errors from
//! the host are shown as its envelope's `name: detail`; the exit code is 1.

use crate::cli::{CanaryAction, CanaryArgs, HistoryArgs, PushArgs, ServerArgs, StatusArgs, UserAction, UserArgs};
use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

pub enum Request {
    Push(PushArgs),
    Canary(CanaryArgs),
    Status(StatusArgs),
    History(HistoryArgs),
    User(UserArgs),
}

pub fn run(request: Request) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
        .and_then(|runtime| runtime.block_on(execute(request)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("budget-host: {error:#}");
            ExitCode::FAILURE
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    actor: String,
}

impl Client {
    fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let token = args
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .context("the admin token is required: --token or BUDGET_ADMIN_TOKEN")?;
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
        let actor = args.actor.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "cli".into());
        Ok(Self { http, base: args.server.trim_end_matches('/').to_string(), token, actor })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("x-budget-actor", &self.actor)
    }

    /// Sends and returns the JSON answer, or the host's error as an error.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let response = request.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.context("the answer was cut off")?;
        let value: Value =
            if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
        if status >= 400 {
            let error = &value["error"];
            match (error["name"].as_str(), error["detail"].as_str()) {
                (Some(name), Some(detail)) => bail!("{status} {name}: {detail}"),
                _ => bail!("{status} {}", String::from_utf8_lossy(&body)),
            }
        }
        Ok((status, value))
    }
}

async fn execute(request: Request) -> anyhow::Result<()> {
    match request {
        Request::Push(args) => push(args).await,
        Request::Canary(args) => canary(args).await,
        Request::Status(args) => status(args).await,
        Request::History(args) => history(args).await,
        Request::User(args) => user(args).await,
    }
}

const CHUNK: usize = 256 * 1024;

async fn push(args: PushArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let bytes = tokio::fs::read(&args.file).await.with_context(|| format!("cannot read {}", args.file.display()))?;
    let total = bytes.len();
    let show_progress = total > 4 * CHUNK;
    let chunks: Vec<bytes::Bytes> =
        bytes::Bytes::from(bytes).chunks(CHUNK).map(bytes::Bytes::copy_from_slice).collect();
    let mut sent = 0usize;
    let stream = futures_util::stream::iter(chunks).map(move |chunk| {
        sent += chunk.len();
        if show_progress {
            eprint!("\ruploading {} / {} KiB ({} %)", sent / 1024, total / 1024, sent * 100 / total.max(1));
            if sent == total {
                eprintln!();
            }
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let path = format!("/admin/v1/apps/{}/versions/{}", args.app, args.version);
    let request = client
        .request(reqwest::Method::PUT, &path)
        .header(reqwest::header::CONTENT_LENGTH, total)
        .header("x-budget-notes", &args.notes)
        .body(reqwest::Body::wrap_stream(stream));
    let (status, record) = client.send(request).await?;
    let what = if status == 201 { "stored" } else { "already stored with these bytes; nothing changed" };
    println!(
        "{}@{} {what}\n  digest  {}\n  size    {} bytes\n  imports {}",
        args.app,
        args.version,
        record["digest"].as_str().unwrap_or("?"),
        record["size"],
        record["imports"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

async fn canary(args: CanaryArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let (app, action, body) = match args.action {
        CanaryAction::Start {
            app,
            version,
            weight,
            steps,
            interval,
            max_error_percent,
            max_p95_ratio,
            min_requests,
            pause_on_failure,
            pause_on_success,
            reason,
        } => {
            let body = json!({
                "version": version,
                "weight": weight,
                "steps": steps,
                "analysis": {
                    "interval_s": interval,
                    "max_error_rate": max_error_percent / 100.0,
                    "max_p95_ratio": max_p95_ratio,
                    "min_requests": min_requests,
                },
                "on_success": if pause_on_success { "pause" } else { "promote" },
                "on_failure": if pause_on_failure { "pause" } else { "rollback" },
                "reason": reason,
            });
            (app, "canary", body)
        }
        CanaryAction::Weight { app, weight, reason } => (app, "weight", json!({ "weight": weight, "reason": reason })),
        CanaryAction::Pause { app, reason } => (app, "pause", json!({ "reason": reason })),
        CanaryAction::Resume { app, reason } => (app, "resume", json!({ "reason": reason })),
        CanaryAction::Promote { app, reason } => (app, "promote", json!({ "reason": reason })),
        CanaryAction::Abort { app, reason } => (app, "abort", json!({ "reason": reason })),
    };
    let path = format!("/admin/v1/apps/{app}/release/{action}");
    let (_, status) = client.send(client.request(reqwest::Method::POST, &path).json(&body)).await?;
    print!("{}", render_status(&status));
    Ok(())
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    loop {
        let path = match &args.app {
            Some(app) => format!("/admin/v1/apps/{app}/release"),
            None => "/admin/v1/releases".into(),
        };
        let out = match client.send(client.request(reqwest::Method::GET, &path)).await {
            Ok((_, Value::Array(items))) => items.iter().map(render_status).collect::<String>(),
            Ok((_, single)) => render_status(&single),
            // Watching rides out a host restart; a single look reports the error.
            Err(error) if args.watch => format!("{error:#}\n"),
            Err(error) => return Err(error),
        };
        if args.watch {
            // Clear the screen and draw again, like `watch`.
            print!("\x1b[2J\x1b[H{out}");
            std::io::stdout().flush()?;
            tokio::time::sleep(Duration::from_secs(2)).await;
        } else {
            print!("{out}");
            return Ok(());
        }
    }
}

async fn user(args: UserArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let (user, label) = match args.action {
        UserAction::List => {
            let (_, answer) = client.send(client.request(reqwest::Method::GET, "/admin/v1/users")).await?;
            if args.json {
                println!("{answer}");
            } else {
                for user in answer["users"].as_array().into_iter().flatten() {
                    println!("{}  {}  {}", text(&user["id"]), text(&user["created_at"]), text(&user["name"]));
                }
            }
            return Ok(());
        }
        UserAction::Create { name, label } => {
            let request = client.request(reqwest::Method::POST, "/admin/v1/users").json(&json!({ "name": name }));
            (client.send(request).await?.1, label)
        }
        UserAction::Token { user, label } => (find_user(&client, &user).await?, label),
    };
    let id = user["id"].as_str().context("the host answered without a user id")?;
    let path = format!("/admin/v1/users/{id}/tokens");
    let request = client.request(reqwest::Method::POST, &path).json(&json!({ "label": label }));
    let (_, token) = client.send(request).await?;
    print!("{}", render_issued(&user, &token, args.json));
    eprintln!("The token is shown only now; the host keeps its sha256 digest.");
    Ok(())
}

/// A user by id, or else by name.
async fn find_user(client: &Client, user: &str) -> anyhow::Result<Value> {
    let request = client.request(reqwest::Method::GET, "/admin/v1/users").query(&[("name", user)]);
    let (_, answer) = client.send(request).await?;
    if let Some(found) = answer["users"].as_array().and_then(|users| users.first()) {
        return Ok(found.clone());
    }
    let (_, answer) = client.send(client.request(reqwest::Method::GET, "/admin/v1/users")).await?;
    answer["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["id"].as_str() == Some(user)))
        .cloned()
        .with_context(|| format!("no user named or with id `{user}`"))
}

/// A newly issued token. The plain form has one line per field, and no
/// field name is a prefix of another, so `grep ^token` finds one line.
pub fn render_issued(user: &Value, token: &Value, as_json: bool) -> String {
    if as_json {
        let answer = json!({
            "user_id": user["id"], "user_name": user["name"],
            "token": token["token"], "token_id": token["id"], "label": token["label"],
        });
        return format!("{answer}\n");
    }
    format!(
        "user      {} ({})\ntoken     {}\nid        {} (the token's id, to revoke it)\n",
        text(&user["id"]),
        text(&user["name"]),
        text(&token["token"]),
        text(&token["id"])
    )
}

async fn history(args: HistoryArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.server)?;
    let path = format!("/admin/v1/apps/{}/release/history", args.app);
    let (_, entries) = client.send(client.request(reqwest::Method::GET, &path)).await?;
    print!("{}", render_history(&entries));
    Ok(())
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn percent(value: &Value) -> String {
    value.as_f64().map_or_else(|| "-".into(), |p| format!("{p:.1} %"))
}

/// One app's release as a tree, like `kubectl argo rollouts get rollout`.
pub fn render_status(status: &Value) -> String {
    let mut out = String::new();
    let canary = &status["canary"];
    let weight = canary["weight"].as_u64().unwrap_or(0);
    let phase = if canary.is_null() { "stable".to_string() } else { text(&canary["state"]) };
    let _ = writeln!(out, "{}  (generation {}, {phase})", text(&status["app"]), text(&status["generation"]));
    let _ = writeln!(out, "├── stable  {}  set {} %", text(&status["stable"]), 100 - weight.min(100));
    if canary.is_null() {
        let _ = writeln!(out, "├── canary  none");
    } else {
        let steps = canary["steps"].as_array().map_or(0, Vec::len);
        let step = if steps == 0 {
            "fixed weight".to_string()
        } else {
            format!("step {}/{steps}", canary["step"].as_u64().unwrap_or(0) + 1)
        };
        let actual = percent(&status["observed"]["canary_percent"]);
        let _ = writeln!(out, "├── canary  {}  set {weight} %  actual {actual}  {step}", text(&canary["version"]));
        let verdict = &status["verdict"];
        if verdict.is_null() {
            let _ = writeln!(
                out,
                "│   └── analysis  collecting ({} s per verdict)",
                text(&canary["analysis"]["interval_s"])
            );
        } else {
            let _ = writeln!(out, "│   └── analysis  {}: {}", text(&verdict["outcome"]), text(&verdict["reason"]));
        }
    }
    let pod = &status["pod"];
    let pod_canary = if pod["canary"].is_null() {
        "no canary".to_string()
    } else {
        format!("canary {} at {} %", text(&pod["canary"]["version"]), text(&pod["canary"]["weight"]))
    };
    let _ = writeln!(
        out,
        "└── this pod  {}  generation {}, stable {}, {pod_canary}",
        text(&pod["state"]),
        text(&pod["generation"]),
        text(&pod["stable"])
    );
    out
}

pub fn render_history(entries: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24}  {:>4}  {:<13} {:<22} {:>6}  {:<24}  reason",
        "at", "gen", "action", "from → to", "weight", "actor"
    );
    for entry in entries.as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<24}  {:>4}  {:<13} {:<22} {:>5}%  {:<24}  {}",
            text(&entry["at"]),
            text(&entry["generation"]),
            text(&entry["action"]),
            format!("{} → {}", text(&entry["from_version"]), text(&entry["to_version"])),
            text(&entry["weight"]),
            text(&entry["actor"]),
            text(&entry["reason"])
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_lines_have_distinct_first_words() {
        let user = json!({ "id": "u-1", "name": "alice" });
        let token = json!({ "id": "t-1", "token": "bgt_secret", "label": "laptop" });
        let plain = render_issued(&user, &token, false);
        let picked: Vec<&str> = plain.lines().filter(|line| line.starts_with("token")).collect();
        assert_eq!(picked, ["token     bgt_secret"]);
        let first_words: Vec<&str> = plain.lines().filter_map(|line| line.split_whitespace().next()).collect();
        for (i, a) in first_words.iter().enumerate() {
            for b in &first_words[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a} and {b} start alike");
            }
        }
        let parsed: Value = serde_json::from_str(&render_issued(&user, &token, true)).expect("json");
        assert_eq!(parsed["token"], "bgt_secret");
        assert_eq!(parsed["token_id"], "t-1");
        assert_eq!(parsed["user_id"], "u-1");
        assert_eq!(parsed["user_name"], "alice");
    }

    #[test]
    fn status_tree_shows_set_and_actual_weight_and_the_verdict() {
        let status = json!({
            "app": "ledger", "generation": 7, "stable": "1.0.0",
            "canary": {"version": "1.1.0", "weight": 25, "state": "progressing", "steps": [5, 25, 100], "step": 1,
                       "analysis": {"interval_s": 30}},
            "verdict": {"outcome": "pass", "reason": "error rate 0.00 % over 80 requests, p95 within limits"},
            "pod": {"state": "ready", "generation": 7, "stable": "1.0.0", "canary": {"version": "1.1.0", "weight": 25}},
            "observed": {"canary_percent": 24.5},
        });
        let tree = render_status(&status);
        assert!(tree.starts_with("ledger  (generation 7, progressing)\n"), "{tree}");
        assert!(tree.contains("├── stable  1.0.0  set 75 %"), "{tree}");
        assert!(tree.contains("├── canary  1.1.0  set 25 %  actual 24.5 %  step 2/3"), "{tree}");
        assert!(tree.contains("│   └── analysis  pass: error rate"), "{tree}");
        assert!(tree.contains("└── this pod  ready  generation 7, stable 1.0.0, canary 1.1.0 at 25 %"), "{tree}");
    }

    #[test]
    fn status_tree_without_canary() {
        let status = json!({"app": "hello", "generation": 0, "stable": "0.1.0", "canary": null, "verdict": null,
                            "pod": {"state": "ready", "generation": 0, "stable": "0.1.0", "canary": null}});
        let tree = render_status(&status);
        assert!(tree.contains("├── stable  0.1.0  set 100 %"), "{tree}");
        assert!(tree.contains("├── canary  none"), "{tree}");
        assert!(tree.contains("no canary"), "{tree}");
    }

    #[test]
    fn history_lists_each_transition() {
        let entries = json!([{"at": "2026-11-26T10:00:00.000Z", "generation": 3, "action": "rollback",
            "from_version": "1.1.0", "to_version": "1.0.0", "weight": 0, "actor": "analysis",
            "reason": "canary error rate 50.0 %"}]);
        let table = render_history(&entries);
        assert!(table.contains("rollback"), "{table}");
        assert!(table.contains("1.1.0 → 1.0.0"), "{table}");
        assert!(table.contains("canary error rate 50.0 %"), "{table}");
    }
}
