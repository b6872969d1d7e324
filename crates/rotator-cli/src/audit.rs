//! `rotator audit`: the account's access keys against the managed secrets, as a table, JSON
//! or CSV.

use anyhow::{Context, Result};
use rotator_core::Ports;
use rotator_core::fleet::audit::{self, AccountAudit, Accounts, Audit, AuditOptions, Finding};
use serde::Serialize;

use crate::cli::AuditArgs;
use crate::render::{Spinner, json_time, print_table, table, table_time};

/// The JSON document (`--json`); docs/operating.md documents every field.
#[derive(Debug, Serialize)]
struct Document<'a> {
    prefix: &'a str,
    generated_at: String,
    max_age_days: u64,
    /// The accounts audited: `null` for the caller's own, else the member account's id.
    accounts: Vec<Option<&'a str>>,
    users_with_keys: usize,
    managed_users: usize,
    keys: usize,
    needs_attention: bool,
    findings: Vec<Row<'a>>,
}

/// One finding, in JSON and in CSV (same fields, same order).
#[derive(Debug, Serialize)]
struct Row<'a> {
    kind: &'static str,
    account: Option<&'a str>,
    user: &'a str,
    key: Option<&'a str>,
    secret: Option<&'a str>,
    created: Option<String>,
    last_used: Option<String>,
    detail: &'a str,
}

impl<'a> Row<'a> {
    fn of(account: Option<&'a str>, finding: &'a Finding) -> Self {
        Row {
            kind: finding.kind.as_str(),
            account,
            user: &finding.user,
            key: finding.key.as_ref().map(|key| key.as_str()),
            secret: finding.secret.as_deref(),
            created: json_time(finding.created),
            last_used: json_time(finding.last_used),
            detail: &finding.detail,
        }
    }
}

/// Runs the command; returns whether it found anything.
pub async fn run(ports: &Ports, args: &AuditArgs) -> Result<bool> {
    let options = AuditOptions {
        max_age_days: args.max_age_days,
    };
    let scope = match (&args.account, args.all_accounts) {
        (Some(account), _) => Accounts::One(account.clone()),
        (None, true) => Accounts::All,
        (None, false) => Accounts::Own,
    };
    let spinner = Spinner::new("generating the credential report");
    let audits = audit::audit_accounts(
        ports,
        &args.fleet.prefix,
        options,
        &args.member.role(),
        &scope,
        &|progress| {
            spinner.say("inspecting the managed users' secrets");
            spinner.progress(progress);
        },
    )
    .await?;
    spinner.finish();
    let rows: Vec<Row<'_>> = audits
        .iter()
        .flat_map(|one| {
            let account = one.account.as_ref().map(|a| a.as_str());
            one.audit.findings.iter().map(move |f| Row::of(account, f))
        })
        .collect();
    let found = !rows.is_empty();
    let total = |count: fn(&Audit) -> usize| audits.iter().map(|a| count(&a.audit)).sum();
    if args.json {
        let document = Document {
            prefix: &args.fleet.prefix,
            generated_at: rotator_core::notice::rfc3339(ports.clock.now()),
            max_age_days: args.max_age_days,
            accounts: audits
                .iter()
                .map(|a| a.account.as_ref().map(|a| a.as_str()))
                .collect(),
            users_with_keys: total(|a| a.users_with_keys),
            managed_users: total(|a| a.managed_users),
            keys: total(|a| a.keys),
            needs_attention: found,
            findings: rows,
        };
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else if args.csv {
        let mut out = csv::Writer::from_writer(std::io::stdout());
        for row in &rows {
            out.serialize(row).context("writing the CSV")?;
        }
        if rows.is_empty() {
            out.write_record([
                "kind",
                "account",
                "user",
                "key",
                "secret",
                "created",
                "last_used",
                "detail",
            ])?;
        }
        out.flush().context("writing the CSV")?;
    } else {
        print_findings(&audits, args.max_age_days);
    }
    Ok(found)
}

fn print_findings(audits: &[AccountAudit], max_age_days: u64) {
    let members = audits.iter().any(|a| a.account.is_some());
    for AccountAudit { account, audit } in audits {
        if members {
            println!(
                "account {}:",
                account
                    .as_ref()
                    .map_or("(the caller's own)", |a| a.as_str())
            );
        }
        print_account(audit, max_age_days);
    }
}

fn print_account(audit: &Audit, max_age_days: u64) {
    if !audit.findings.is_empty() {
        let mut out = table(&[
            "FINDING",
            "USER",
            "KEY",
            "SECRET",
            "CREATED",
            "LAST USED",
            "DETAIL",
        ]);
        for finding in &audit.findings {
            out.add_row([
                finding.kind.as_str().to_owned(),
                finding.user.clone(),
                finding
                    .key
                    .as_ref()
                    .map_or("-".to_owned(), ToString::to_string),
                finding.secret.clone().unwrap_or_else(|| "-".to_owned()),
                table_time(finding.created),
                table_time(finding.last_used),
                finding.detail.clone(),
            ]);
        }
        print_table(&out);
        println!();
    }
    println!(
        "{} users with access keys ({} managed), {} keys, policy {max_age_days} days: {}",
        audit.users_with_keys,
        audit.managed_users,
        audit.keys,
        match audit.findings.len() {
            0 => "no finding".to_owned(),
            1 => "1 finding".to_owned(),
            n => format!("{n} findings"),
        }
    );
}
