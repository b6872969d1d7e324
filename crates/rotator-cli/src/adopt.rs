//! `rotator adopt`: a managed secret takes over a key its user already holds (contract §10), one
//! secret at a time (`SECRET [--key ID] [--with-secret]`) or every secret whose user holds
//! exactly one key that no secret knows (`--all`). Each adoption then says when the deployment's
//! schedule retires the key (its age counting from its IAM `CreateDate`), and starts the
//! secret's rotation at once when that would pass the key-age limit, unless `--no-rotate`.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use rotator_core::fleet::adopt::{self, AdoptError, AdoptPlan, AgeAction};
use rotator_core::fleet::managed_secrets;
use rotator_core::ports::{DeploymentReader, SecretMetadata};
use rotator_core::types::rfc3339;
use rotator_core::{AccessKeyId, ClientRequestToken, Ports, SecretAccessKey, SecretId};
use serde::Serialize;

use crate::cli::AdoptArgs;
use crate::render::{Spinner, print_table, table};

/// One secret's line of the report.
#[derive(Debug, Serialize)]
struct Line {
    secret: String,
    user: Option<String>,
    key: Option<String>,
    /// `adopted`, `would-adopt` (a dry run) or `skipped`.
    result: &'static str,
    detail: String,
    /// When IAM created the adopted key (RFC 3339): its age counts from then.
    key_created: Option<String>,
    /// The latest time the deployment's schedule leaves the key active, as things stand after
    /// the command (RFC 3339); `null` when nothing retires it or nothing was adopted.
    retired_by: Option<String>,
    /// The version of the rotation started because the key would pass the key-age limit.
    rotation_started: Option<String>,
}

/// Runs the command; returns whether something needs attention (a secret skipped because its
/// user holds several keys no secret knows, or an adopted key that will pass the key-age limit
/// and whose rotation could not start).
pub async fn run(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    args: &AdoptArgs,
) -> Result<bool> {
    if args.all {
        return run_all(ports, deployment, args).await;
    }
    let name = args
        .secret
        .as_deref()
        .ok_or_else(|| anyhow!("name the secret to adopt for, or give --all"))?;
    let key = args
        .key
        .as_deref()
        .map(AccessKeyId::new)
        .transpose()
        .map_err(|problem| anyhow!("--key: {problem}"))?;
    // The secret access key comes from standard input only, read before any AWS call, and is
    // never formatted (its type redacts it).
    let secret_access_key = if args.with_secret {
        Some(read_secret_access_key()?)
    } else {
        None
    };
    let secret = SecretId::new(name).map_err(|problem| anyhow!("{problem}"))?;
    let metadata = ports
        .secrets
        .describe(&secret)
        .await
        .map_err(|error| anyhow!("DescribeSecret for {name} failed: {error}"))?;
    let plan = adopt::plan(
        ports,
        &metadata,
        &args.member.role(),
        &args.fleet.prefix,
        key.as_ref(),
    )
    .await?;
    let (line, attention) =
        carry_out(ports, deployment, &metadata, &plan, args, secret_access_key).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&line)?);
    } else {
        println!("{}: {}", line.secret, line.detail);
    }
    Ok(attention)
}

async fn run_all(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    args: &AdoptArgs,
) -> Result<bool> {
    let spinner = Spinner::new("reading the managed secrets");
    let secrets = managed_secrets(ports, &args.fleet.prefix).await?;
    let role = args.member.role();
    let mut lines = Vec::new();
    let mut attention = false;
    // The keys this run adopted (or, in a dry run, would adopt), by secret: a second secret
    // bound to the same user must not take one of them too (in a dry run nothing is written
    // that its plan could read).
    let mut taken: BTreeMap<AccessKeyId, String> = BTreeMap::new();
    for metadata in &secrets {
        spinner.say(&format!("looking at {}", metadata.name));
        let planned =
            adopt::plan_in(ports, metadata, &secrets, &role, &args.fleet.prefix, None).await;
        let line = match planned {
            Ok(plan) if taken.contains_key(&plan.key) => Line {
                secret: metadata.name.clone(),
                user: Some(plan.user.clone()),
                key: Some(plan.key.to_string()),
                result: "skipped",
                detail: format!(
                    "{}: {} is held by secret {} (adopted in this run)",
                    metadata.name, plan.key, taken[&plan.key]
                ),
                key_created: None,
                retired_by: None,
                rotation_started: None,
            },
            Ok(plan) => {
                taken.insert(plan.key.clone(), plan.secret.clone());
                let (line, needs) =
                    carry_out(ports, deployment, metadata, &plan, args, None).await?;
                attention |= needs;
                line
            }
            Err(AdoptError::Call(error)) => return Err(error.into()),
            Err(refusal) => {
                attention |= matches!(refusal, AdoptError::Several { .. });
                Line {
                    secret: metadata.name.clone(),
                    user: None,
                    key: None,
                    result: "skipped",
                    detail: refusal.to_string(),
                    key_created: None,
                    retired_by: None,
                    rotation_started: None,
                }
            }
        };
        lines.push(line);
    }
    spinner.finish();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(attention);
    }
    let mut out = table(&["SECRET", "USER", "KEY", "RESULT", "DETAIL"]);
    for line in &lines {
        out.add_row(vec![
            line.secret.clone(),
            line.user.clone().unwrap_or_else(|| "-".into()),
            line.key.clone().unwrap_or_else(|| "-".into()),
            line.result.to_owned(),
            line.detail.clone(),
        ]);
    }
    print_table(&out);
    let adopted = lines.iter().filter(|l| l.result != "skipped").count();
    println!(
        "\n{} secrets: {adopted} {}, {} skipped",
        lines.len(),
        if args.dry_run {
            "would adopt"
        } else {
            "adopted"
        },
        lines.len() - adopted
    );
    Ok(attention)
}

/// Writes the adoption (unless a dry run) and says what it did; then when the deployment's
/// schedule retires the key, starting the rotation now when that would pass the key-age limit
/// (unless `--no-rotate` or a dry run). Returns the line and whether the key needs attention
/// (it will pass the limit and its rotation could not start).
async fn carry_out(
    ports: &Ports,
    deployment: &dyn DeploymentReader,
    metadata: &SecretMetadata,
    plan: &AdoptPlan,
    args: &AdoptArgs,
    secret_access_key: Option<SecretAccessKey>,
) -> Result<(Line, bool)> {
    let with_secret = secret_access_key.is_some();
    let what = if with_secret {
        "and stores its pair as AWSCURRENT"
    } else {
        "as AdoptAccessKeyId in a new AWSCURRENT value"
    };
    let (result, detail) = if args.dry_run {
        (
            "would-adopt",
            format!(
                "would adopt {} of {} {what}; nothing was changed (a dry run)",
                plan.key, plan.user
            ),
        )
    } else {
        adopt::adopt(ports, plan, &new_token()?, secret_access_key).await?;
        (
            "adopted",
            format!(
                "adopted {} of {} {what}; the rotator retires it as a previous key",
                plan.key, plan.user
            ),
        )
    };
    let (rules, assumed) = adopt::old_key_rules(deployment, metadata).await;
    let rotate = !args.dry_run && !args.no_rotate;
    let report = adopt::settle_age(ports, plan, &rules, rotate).await?;
    let age = adopt::describe_age(plan, &report, args.dry_run && !args.no_rotate);
    let (retired_by, rotation_started, attention) = match &report.action {
        AgeAction::InTime => (report.scheduled.by, None, false),
        AgeAction::Started(started) => {
            (report.rotated_now.by, Some(started.version.clone()), false)
        }
        // --no-rotate: the operator's choice, which the line states.
        AgeAction::Left => (report.scheduled.by, None, false),
        AgeAction::NotStarted(_) => (report.scheduled.by, None, !args.dry_run),
    };
    let detail = match assumed {
        Some(assumed) => format!("{detail}. {age} ({assumed})"),
        None => format!("{detail}. {age}"),
    };
    Ok((
        Line {
            secret: plan.secret.clone(),
            user: Some(plan.user.clone()),
            key: Some(plan.key.to_string()),
            result,
            detail,
            key_created: plan.created.map(rfc3339),
            retired_by: retired_by.map(rfc3339),
            rotation_started,
        },
        attention,
    ))
}

/// The secret access key from standard input: one line, surrounding blanks removed.
fn read_secret_access_key() -> Result<SecretAccessKey> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the secret access key from standard input")?;
    let secret = text.trim();
    if secret.is_empty() {
        bail!(
            "--with-secret reads the key's secret access key from standard input, which was empty"
        );
    }
    if secret.lines().count() > 1 {
        bail!(
            "--with-secret reads one line from standard input (the secret access key), not several"
        );
    }
    Ok(SecretAccessKey::new(secret))
}

/// A fresh version id for the adoption's `PutSecretValue`: the time in nanoseconds and the
/// process id, unique enough for one operator's writes.
fn new_token() -> Result<ClientRequestToken> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_nanos();
    ClientRequestToken::new(format!("adopt-{nanos:032x}-{:08x}", std::process::id()))
        .map_err(|problem| anyhow!("{problem}"))
}
