//! End to end, black-box: `rotator adopt` against moto. A key a job uses is taken over by its
//! user's secret (`--key`, or the only candidate), with its secret read from standard input
//! (`--with-secret`), or for every secret at once (`--all`); `rotator audit` names the command
//! for an old key of a managed user; refusals change nothing.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use rotator_harness::fleet::{CliRun, rotator_command, run_cli};
use rotator_harness::{World, WorldOptions, function_binary};

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

/// Runs the CLI with `input` on its standard input.
fn run_with_stdin(command: &mut Command, input: &str) -> Result<CliRun> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the rotator CLI")?;
    child
        .stdin
        .take()
        .context("the CLI's standard input")?
        .write_all(input.as_bytes())?;
    let output = child.wait_with_output()?;
    Ok(CliRun::from_output(&output))
}

async fn world() -> Result<World> {
    World::start(
        &function_binary(),
        WorldOptions::default().setting("ROTATOR_OLD_KEY", "grace"),
    )
    .await
}

#[tokio::test]
async fn adopt_takes_over_the_only_unknown_key_and_the_next_rotation_keeps_it_known() -> Result<()>
{
    let world = world().await?;
    let fx = &world.fx;
    fx.create_user("crm-sync").await?;
    let secret = "IamKeyRotator/crm-sync";
    fx.create_secret(secret, r#"{"UserName":"crm-sync"}"#, None)
        .await?;
    fx.rotate_direct(&world.function, secret).await?;
    let (old, _) = fx.create_key("crm-sync").await?;

    // blocked before; the dry run says what it would do and changes nothing.
    let status = run_cli(rotator_command(cli(), &world.moto).args(["status", "--json"]))?;
    assert_eq!(
        status.json()?["secrets"][0]["state"],
        "blocked",
        "{status:?}"
    );
    let stages_before = fx.stages(secret).await?;
    let dry = run_cli(rotator_command(cli(), &world.moto).args(["adopt", secret, "--dry-run"]))?;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert!(
        dry.stdout.contains(&old) && dry.stdout.contains("would adopt"),
        "{dry:?}"
    );
    assert_eq!(
        fx.stages(secret).await?,
        stages_before,
        "a dry run changes nothing"
    );

    let adopted = run_cli(rotator_command(cli(), &world.moto).args(["adopt", secret]))?;
    assert_eq!(adopted.code, Some(0), "{adopted:?}");
    assert!(
        adopted.stdout.contains(&format!("adopted {old}")),
        "{adopted:?}"
    );
    // Contract §10: it says when the schedule retires the key, counted from its IAM creation;
    // on a 90-day schedule plus the grace max (the function's settings are not moto's to
    // read, so the infra's defaults are assumed, and said) that is past the 90-day limit, so
    // the rotation starts now.
    assert!(
        adopted.stdout.contains("IAM CreateDate")
            && adopted.stdout.contains("90-day key-age limit")
            && adopted.stdout.contains("its rotation started now"),
        "{adopted:?}"
    );
    let stages = fx.stages(secret).await?;
    assert!(
        stages
            .values()
            .any(|labels| labels == &vec!["AWSPENDING".to_owned()]),
        "a new version is AWSPENDING: {stages:?}"
    );
    let value = world.value(secret, "AWSCURRENT").await?.expect("a value");
    assert_eq!(value["AdoptAccessKeyId"], old.as_str());
    let status = run_cli(rotator_command(cli(), &world.moto).args(["status", "--json"]))?;
    assert_ne!(
        status.json()?["secrets"][0]["state"],
        "blocked",
        "{status:?}"
    );

    // A second adoption is refused with exit 2, naming the problem.
    let again = run_cli(rotator_command(cli(), &world.moto).args(["adopt", secret]))?;
    assert_eq!(again.code, Some(2), "{again:?}");
    assert!(again.stderr.contains("adopted"), "{again:?}");
    Ok(())
}

#[tokio::test]
async fn adopt_with_secret_reads_stdin_checks_the_pair_and_never_prints_it() -> Result<()> {
    let world = world().await?;
    let fx = &world.fx;
    fx.create_user("billing-export").await?;
    let secret = "IamKeyRotator/billing-export";
    fx.create_secret(secret, r#"{"UserName":"billing-export"}"#, None)
        .await?;
    let (old, old_secret) = fx.create_key("billing-export").await?;

    // A wrong secret is refused, and nothing is written.
    let stages_before = fx.stages(secret).await?;
    let wrong = run_with_stdin(
        rotator_command(cli(), &world.moto).args(["adopt", secret, "--key", &old, "--with-secret"]),
        "not-the-right-secret-at-all-0123456789\n",
    )?;
    assert_eq!(wrong.code, Some(2), "{wrong:?}");
    assert!(!wrong.stderr.contains("not-the-right-secret"), "{wrong:?}");
    assert_eq!(fx.stages(secret).await?, stages_before);

    // --no-rotate: the test runs the first rotation itself below (the secret's rotation is not
    // configured yet, so `adopt` could not start it and would exit 1).
    let right = run_with_stdin(
        rotator_command(cli(), &world.moto).args([
            "adopt",
            secret,
            "--key",
            &old,
            "--with-secret",
            "--no-rotate",
        ]),
        &format!("{old_secret}\n"),
    )?;
    assert_eq!(right.code, Some(0), "{right:?}");
    for output in [&right.stdout, &right.stderr] {
        assert!(
            !output.contains(&old_secret),
            "the secret was printed: {output}"
        );
    }
    let value = world.value(secret, "AWSCURRENT").await?.expect("a value");
    assert_eq!(value["AccessKeyId"], old.as_str());
    assert_eq!(value["SecretAccessKey"], old_secret.as_str());
    assert_eq!(value["AdoptAccessKeyId"], old.as_str());

    // Programs read the secret now; the first rotation makes a new key, and the adopted one
    // is the previous key under grace.
    fx.rotate_direct(&world.function, secret).await?;
    assert_eq!(
        world.key_in(secret, "AWSPREVIOUS").await?.as_deref(),
        Some(old.as_str())
    );
    assert_eq!(
        fx.key_status("billing-export", &old).await?.as_deref(),
        Some("Active")
    );
    Ok(())
}

#[tokio::test]
async fn adopt_all_takes_the_clear_cases_skips_the_others_and_audit_names_the_command() -> Result<()>
{
    let world = world().await?;
    let fx = &world.fx;
    let mut olds = Vec::new();
    for user in ["one-key", "two-keys", "no-key"] {
        fx.create_user(user).await?;
        fx.create_secret(
            &format!("IamKeyRotator/{user}"),
            &format!(r#"{{"UserName":"{user}"}}"#),
            None,
        )
        .await?;
    }
    olds.push(fx.create_key("one-key").await?.0);
    olds.push(fx.create_key("two-keys").await?.0);
    olds.push(fx.create_key("two-keys").await?.0);

    // audit names the command for the old key of a managed user (moto's keys are new: the
    // threshold is 0 days).
    let audit = run_cli(rotator_command(cli(), &world.moto).args([
        "audit",
        "--max-age-days",
        "0",
        "--json",
    ]))?;
    assert!(
        audit.stdout.contains(&format!(
            "rotator adopt 'IamKeyRotator/one-key' --key {}",
            olds[0]
        )),
        "{audit:?}"
    );

    let all = run_cli(rotator_command(cli(), &world.moto).args(["adopt", "--all", "--json"]))?;
    assert_eq!(all.code, Some(1), "two-keys needs a choice: {all:?}");
    let lines = all.json()?;
    let result = |secret: &str| {
        lines
            .as_array()
            .and_then(|l| l.iter().find(|line| line["secret"] == secret))
            .map(|line| line["result"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(result("IamKeyRotator/one-key").as_deref(), Some("adopted"));
    assert_eq!(result("IamKeyRotator/two-keys").as_deref(), Some("skipped"));
    assert_eq!(result("IamKeyRotator/no-key").as_deref(), Some("skipped"));
    let value = world
        .value("IamKeyRotator/one-key", "AWSCURRENT")
        .await?
        .expect("value");
    assert_eq!(value["AdoptAccessKeyId"], olds[0].as_str());
    let untouched = world
        .value("IamKeyRotator/two-keys", "AWSCURRENT")
        .await?
        .expect("value");
    assert!(untouched.get("AdoptAccessKeyId").is_none());

    // A prefix without its trailing slash, or a secret of another user's key: exit 2.
    let other = run_cli(rotator_command(cli(), &world.moto).args([
        "adopt",
        "IamKeyRotator/two-keys",
        "--key",
        &olds[0],
    ]))?;
    assert_eq!(other.code, Some(2), "{other:?}");
    assert!(
        other.stderr.contains("not one of user two-keys"),
        "{other:?}"
    );
    Ok(())
}

/// Issue 25, point 2: a key that another secret bound to the same user adopted is never
/// adopted again, by `adopt SECRET` (exit 2, naming that secret) or by `adopt --all`.
#[tokio::test]
async fn adopt_refuses_a_key_another_secret_holds_and_names_it() -> Result<()> {
    let world = world().await?;
    let fx = &world.fx;
    fx.create_user("shared").await?;
    let plain = "IamKeyRotator/shared";
    let own_account = format!("IamKeyRotator/{}/shared", rotator_harness::moto::ACCOUNT);
    for secret in [plain, own_account.as_str()] {
        fx.create_secret(secret, r#"{"UserName":"shared"}"#, None)
            .await?;
    }
    let (key, _) = fx.create_key("shared").await?;
    let first = run_cli(rotator_command(cli(), &world.moto).args([
        "adopt",
        &own_account,
        "--key",
        &key,
        "--no-rotate",
    ]))?;
    assert_eq!(first.code, Some(0), "{first:?}");
    assert!(first.stdout.contains("--no-rotate"), "{first:?}");

    let stages_before = fx.stages(plain).await?;
    for args in [vec!["adopt", plain], vec!["adopt", plain, "--key", &key]] {
        let refused = run_cli(rotator_command(cli(), &world.moto).args(&args))?;
        assert_eq!(refused.code, Some(2), "{args:?}: {refused:?}");
        assert!(
            refused.stderr.contains(&key)
                && refused.stderr.contains(&format!("secret {own_account}")),
            "{args:?}: {refused:?}"
        );
    }
    let all = run_cli(rotator_command(cli(), &world.moto).args(["adopt", "--all", "--json"]))?;
    let lines = all.json()?;
    let line = lines
        .as_array()
        .and_then(|l| l.iter().find(|line| line["secret"] == plain))
        .cloned()
        .expect("a line for the plain secret");
    assert_eq!(line["result"], "skipped", "{all:?}");
    assert_eq!(fx.stages(plain).await?, stages_before, "nothing written");
    let value = world.value(plain, "AWSCURRENT").await?.expect("a value");
    assert!(value.get("AdoptAccessKeyId").is_none(), "{value}");
    Ok(())
}
