//! `rotator recover SECRET [--dry-run] [--json]`: ends a stuck rotation (contract §11) by
//! invoking the function's recover action, so that the sole writer acts and the operator needs
//! only `lambda:InvokeFunction`; prints what it did or, with `--dry-run`, what it would do.

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use aws_sdk_lambda::primitives::Blob;
use rotator_aws::RequestCounter;
use rotator_core::Ports;
use rotator_core::SecretId;
use rotator_core::recover::RECOVER_ACTION;
use serde_json::{Value, json};

use crate::cli::RecoverArgs;

/// Runs `rotator recover`; `Ok(true)` when the rotation is still stuck (a pending key in use
/// was kept, or a step may still be running): something needs attention.
pub async fn run(
    ports: &Ports,
    config: &SdkConfig,
    requests: &RequestCounter,
    args: &RecoverArgs,
) -> Result<bool> {
    let secret = SecretId::new(args.secret.as_str()).map_err(|e| anyhow!("{e}"))?;
    let function = match &args.function {
        Some(function) => function.clone(),
        None => ports
            .secrets
            .describe(&secret)
            .await
            .with_context(|| {
                format!(
                    "DescribeSecret of {} failed (or pass the function with --function)",
                    args.secret
                )
            })?
            .rotation_function
            .ok_or_else(|| {
                anyhow!(
                    "the secret {} names no rotation function: pass it with --function",
                    args.secret
                )
            })?,
    };
    let mut event = json!({"Action": RECOVER_ACTION, "SecretId": args.secret});
    if args.dry_run {
        event["DryRun"] = Value::Bool(true);
    }
    let summary = invoke(config, requests, &function, &event).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", describe(&summary));
    }
    let outcome = summary["outcome"].as_str().unwrap_or_default();
    Ok(matches!(
        outcome,
        "pending-key-kept" | "step-may-be-running"
    ))
}

/// Invokes the function with `event` and returns its answer; a function error (a refusal or a
/// failure of the recovery) is an error carrying the function's message.
async fn invoke(
    config: &SdkConfig,
    requests: &RequestCounter,
    function: &str,
    event: &Value,
) -> Result<Value> {
    let lambda = aws_sdk_lambda::config::Builder::from(config)
        .interceptor(requests.for_service("lambda"))
        .build();
    let client = aws_sdk_lambda::Client::from_conf(lambda);
    let answer = client
        .invoke()
        .function_name(function)
        .payload(Blob::new(event.to_string()))
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            // Lambda answers a function's error with 200 and `X-Amz-Function-Error`; a Runtime
            // API emulator may answer it with another status, its body the function's error.
            let body = error
                .raw_response()
                .and_then(|raw| raw.body().bytes())
                .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
            if let Some(body) = body.filter(|body| body["errorMessage"].is_string()) {
                bail!(function_error(&body));
            }
            bail!(
                "Invoke of {function} failed: {}",
                aws_sdk_lambda::error::DisplayErrorContext(&error)
            );
        }
    };
    let payload = answer
        .payload()
        .map(|blob| String::from_utf8_lossy(blob.as_ref()).into_owned())
        .unwrap_or_default();
    let parsed: Value = serde_json::from_str(&payload).unwrap_or(Value::String(payload.clone()));
    if answer.function_error().is_some() {
        if parsed["errorMessage"].is_string() {
            bail!(function_error(&parsed));
        }
        bail!("the function failed the recovery: {payload}");
    }
    if parsed["action"] != RECOVER_ACTION {
        bail!("{function} answered something other than a recovery: {payload}");
    }
    Ok(parsed)
}

/// A function's error (`errorType`, `errorMessage`) in one sentence.
fn function_error(error: &Value) -> String {
    format!(
        "the function refused or failed the recovery ({}): {}",
        error["errorType"].as_str().unwrap_or("Unhandled"),
        error["errorMessage"].as_str().unwrap_or_default()
    )
}

/// The summary as text: one headline, then what happened and the keys.
fn describe(summary: &Value) -> String {
    let text = |field: &str| summary[field].as_str().unwrap_or_default().to_owned();
    let dry = summary["dryRun"].as_bool().unwrap_or(false);
    let secret = text("secret");
    let headline = match (text("outcome").as_str(), dry) {
        ("not-stuck", _) => format!("{secret}: not stuck, nothing to recover"),
        ("finish-completed", false) => format!("{secret}: completed the interrupted finish"),
        ("finish-completed", true) => {
            format!("{secret}: would complete the interrupted finish (dry run)")
        }
        ("abandoned", false) => format!("{secret}: abandoned the stuck rotation"),
        ("abandoned", true) => format!("{secret}: would abandon the stuck rotation (dry run)"),
        ("pending-key-kept", _) => {
            format!("{secret}: NOT recovered: its pending key is (or may be) in use")
        }
        ("step-may-be-running", _) => {
            format!("{secret}: NOT recovered: a step of the rotation may still be running")
        }
        (other, _) => format!("{secret}: {other}"),
    };
    let mut out = format!("{headline}\n  {}\n", text("detail"));
    if let Some(token) = summary["token"].as_str() {
        out.push_str(&format!("  token: {token}\n"));
    }
    for key in summary["deletedKeys"].as_array().into_iter().flatten() {
        let verb = if dry { "would delete" } else { "deleted" };
        out.push_str(&format!(
            "  {verb} pending key {}\n",
            key.as_str().unwrap_or("?")
        ));
    }
    for kept in summary["keptKeys"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  kept pending key {}: {}\n",
            kept["key"].as_str().unwrap_or("?"),
            kept["reason"].as_str().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reads_as_what_was_done_and_to_which_keys() {
        let summary = json!({
            "action": "recover", "secret": "IamKeyRotator/alice", "dryRun": true,
            "outcome": "abandoned", "token": "t-1", "deletedKeys": ["AKIAEXAMPLE"],
            "keptKeys": [], "detail": "would abandon the rotation t-1"
        });
        let text = describe(&summary);
        assert!(
            text.starts_with("IamKeyRotator/alice: would abandon the stuck rotation (dry run)\n"),
            "{text}"
        );
        assert!(
            text.contains("would delete pending key AKIAEXAMPLE"),
            "{text}"
        );
        let kept = json!({
            "action": "recover", "secret": "IamKeyRotator/alice", "dryRun": false,
            "outcome": "pending-key-kept", "token": "t-1", "deletedKeys": [],
            "keptKeys": [{"key": "AKIAEXAMPLE", "reason": "it was used"}], "detail": "kept"
        });
        let text = describe(&kept);
        assert!(text.contains("NOT recovered"), "{text}");
        assert!(
            text.contains("kept pending key AKIAEXAMPLE: it was used"),
            "{text}"
        );
    }
}
