//! `rotator status`: one row per managed secret, as a table or as JSON.

use std::collections::BTreeMap;

use anyhow::Result;
use rotator_core::Ports;
use rotator_core::fleet::status::{self, State, StatusOptions, StatusRow, duration};
use rotator_core::ports::KeyStatus;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::render::{Spinner, json_time, print_table, table, table_time};

/// The JSON document (`--json`); docs/operating.md documents every field.
#[derive(Debug, Serialize)]
struct Document<'a> {
    prefix: &'a str,
    generated_at: String,
    stuck_after_seconds: u64,
    needs_attention: bool,
    /// How many secrets are in each state (their most urgent one).
    counts: BTreeMap<&'static str, usize>,
    secrets: Vec<Row<'a>>,
}

#[derive(Debug, Serialize)]
struct Row<'a> {
    secret: &'a str,
    arn: &'a str,
    user: &'a str,
    account: Option<&'a str>,
    key: Option<Key<'a>>,
    rotation_enabled: bool,
    last_rotated: Option<String>,
    next_rotation: Option<String>,
    pending: Option<Pending<'a>>,
    state: &'static str,
    states: Vec<&'static str>,
    reasons: &'a [String],
}

#[derive(Debug, Serialize)]
struct Key<'a> {
    id: &'a str,
    created: Option<String>,
    age_seconds: Option<u64>,
    status: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Pending<'a> {
    version: &'a str,
    age_seconds: Option<u64>,
}

/// Runs the command; returns whether a secret needs attention.
pub async fn run(ports: &Ports, args: &StatusArgs) -> Result<bool> {
    let options = StatusOptions {
        stuck_after_secs: args.stuck_after.as_secs(),
        member_role: args.member.role(),
    };
    let spinner = Spinner::new("listing the secrets");
    let rows = status::status(ports, &args.fleet.prefix, &options, &|progress| {
        spinner.say("inspecting the secrets");
        spinner.progress(progress);
    })
    .await?;
    spinner.finish();
    let now = ports.clock.now();
    let attention = rows.iter().any(|row| row.state.needs_attention());
    if args.json {
        let document = Document {
            prefix: &args.fleet.prefix,
            generated_at: rotator_core::notice::rfc3339(now),
            stuck_after_seconds: options.stuck_after_secs,
            needs_attention: attention,
            counts: counts(&rows),
            secrets: rows.iter().map(|row| json_row(row, now)).collect(),
        };
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print_rows(&rows, now, &args.fleet.prefix);
    }
    Ok(attention)
}

fn json_row(row: &StatusRow, now: u64) -> Row<'_> {
    Row {
        secret: &row.secret,
        arn: &row.arn,
        user: &row.user,
        account: row.account.as_deref(),
        key: row.key.as_ref().map(|key| Key {
            id: key.id.as_str(),
            created: json_time(key.created),
            age_seconds: key.created.map(|created| now.saturating_sub(created)),
            status: key.status.map(status_name),
        }),
        rotation_enabled: row.rotation_enabled,
        last_rotated: json_time(row.last_rotated),
        next_rotation: json_time(row.next_rotation),
        pending: row.pending.as_ref().map(|pending| Pending {
            version: &pending.version,
            age_seconds: pending.age_secs,
        }),
        state: row.state.as_str(),
        states: row.states.iter().map(|state| state.as_str()).collect(),
        reasons: &row.reasons,
    }
}

fn status_name(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "Active",
        KeyStatus::Inactive => "Inactive",
    }
}

fn counts(rows: &[StatusRow]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row.state.as_str()).or_default() += 1;
    }
    counts
}

fn print_rows(rows: &[StatusRow], now: u64, prefix: &str) {
    if rows.is_empty() {
        println!("no secret is named {prefix}*");
        return;
    }
    let with_accounts = rows.iter().any(|row| row.account.is_some());
    let mut header = vec!["SECRET", "USER"];
    if with_accounts {
        header.push("ACCOUNT");
    }
    header.extend([
        "KEY",
        "AGE",
        "STATUS",
        "LAST ROTATED",
        "NEXT ROTATION",
        "STATE",
        "DETAIL",
    ]);
    let mut out = table(&header);
    for row in rows {
        let mut cells = vec![row.secret.clone(), row.user.clone()];
        if with_accounts {
            cells.push(row.account.clone().unwrap_or_else(|| "-".to_owned()));
        }
        let key = row.key.as_ref();
        cells.extend([
            key.map_or("-".to_owned(), |key| key.id.to_string()),
            key.and_then(|key| key.created)
                .map_or("-".to_owned(), |created| {
                    duration(now.saturating_sub(created))
                }),
            key.map_or("-".to_owned(), |key| {
                key.status.map_or("missing", status_name).to_owned()
            }),
            table_time(row.last_rotated),
            table_time(row.next_rotation),
            row.state.as_str().to_owned(),
            row.reasons.join("; "),
        ]);
        out.add_row(cells);
    }
    print_table(&out);
    let summary: Vec<String> = State::ALL
        .iter()
        .filter_map(|state| {
            let count = rows.iter().filter(|row| row.state == *state).count();
            (count > 0).then(|| format!("{count} {state}"))
        })
        .collect();
    let attention = rows
        .iter()
        .filter(|row| row.state.needs_attention())
        .count();
    println!(
        "\n{} secret{}: {}; {}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        summary.join(", "),
        match attention {
            0 => "nothing needs attention".to_owned(),
            1 => "1 needs attention".to_owned(),
            n => format!("{n} need attention"),
        }
    );
}
