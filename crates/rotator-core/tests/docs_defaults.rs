//! The documentation's defaults against the code: the table of docs/deploy.md, the figures in the prose of README.md and docs/, the CDK app's `DEFAULTS` and `rotator doctor`'s fix.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rotator_core::config::{
    DEFAULT_MEMBER_ROLE_NAME, DEFAULT_SECRET_PREFIX, Settings, parse_duration,
};
use rotator_core::doctor::checks::check_secret;
use rotator_core::ports::SecretMetadata;

/// The repository's root, two levels above this crate.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repository().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// One row of the defaults table: the setting, then the function's cell and the deployment's.
struct Row {
    setting: String,
    function: String,
    deployment: String,
}

/// The rows between the `defaults-table` markers of docs/deploy.md.
fn defaults_table() -> Vec<Row> {
    let page = read("docs/deploy.md");
    let start = page
        .find("<!-- defaults-table")
        .expect("docs/deploy.md has lost its <!-- defaults-table --> marker");
    let end = page
        .find("<!-- /defaults-table -->")
        .expect("docs/deploy.md has lost its <!-- /defaults-table --> marker");
    page[start..end]
        .lines()
        .filter(|line| line.starts_with('|') && !line.starts_with("| ---"))
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 3, "a defaults row needs three cells: {line}");
            Row {
                setting: cells[0].to_owned(),
                function: cells[1].to_owned(),
                deployment: cells[2].to_owned(),
            }
        })
        .collect()
}

/// `NAME` = `VALUE` in a cell, or `None` when the cell states no value in that form.
fn assignment(cell: &str) -> Option<(String, String)> {
    let (name, value) = cell.split_once(" = ")?;
    let unquote = |text: &str| {
        let text = text.trim();
        (text.len() >= 2 && text.starts_with('`') && text.ends_with('`'))
            .then(|| text[1..text.len() - 1].to_owned())
    };
    Some((unquote(name)?, unquote(value)?))
}

/// The CDK app's `DEFAULTS` object (infra/lib/config.ts), as field → value text without quotes
/// or type assertions.
fn infra_defaults() -> BTreeMap<String, String> {
    let source = read("infra/lib/config.ts");
    let start = source
        .find("export const DEFAULTS = {")
        .expect("infra/lib/config.ts has no `export const DEFAULTS = {`");
    let body = &source[start..];
    let end = body
        .find("} as const;")
        .expect("DEFAULTS ends with `} as const;`");
    body[..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|line| !line.starts_with("//") && line.contains(':'))
        .map(|line| {
            let (field, value) = line
                .split_once(':')
                .expect("a field of DEFAULTS has a colon");
            let value = value.trim().trim_end_matches(',');
            let value = value.split(" as ").next().unwrap_or(value).trim();
            let value = value.trim_matches('\'').replace('_', "");
            (field.trim().to_owned(), value)
        })
        .collect()
}

/// The deployment's default of one field, which the table must state.
fn infra_default(field: &str) -> String {
    infra_defaults()
        .remove(field)
        .unwrap_or_else(|| panic!("infra/lib/config.ts's DEFAULTS has no {field}"))
}

/// Whether a value that the documentation states is the code's.
type Agrees = Box<dyn Fn(&str) -> bool>;

#[test]
fn the_table_states_the_functions_own_defaults() {
    let settings = Settings::default();
    let mut expected: BTreeMap<&str, Agrees> = BTreeMap::new();
    let policy = settings.old_key_policy.as_str();
    expected.insert("ROTATOR_OLD_KEY", Box::new(move |v| v == policy));
    let grace = settings.grace;
    expected.insert(
        "ROTATOR_GRACE",
        Box::new(move |v| parse_duration(v) == Ok(grace)),
    );
    let grace_max = settings.grace_max;
    expected.insert(
        "ROTATOR_GRACE_MAX",
        Box::new(move |v| parse_duration(v) == Ok(grace_max)),
    );
    let usage_lag = settings.usage_lag;
    expected.insert(
        "ROTATOR_USAGE_LAG",
        Box::new(move |v| parse_duration(v) == Ok(usage_lag)),
    );
    let test_timeout = settings.test_timeout;
    expected.insert(
        "ROTATOR_TEST_TIMEOUT_SECS",
        Box::new(move |v| v.parse::<u64>().map(Duration::from_secs) == Ok(test_timeout)),
    );
    expected.insert(
        "ROTATOR_SECRET_PREFIX",
        Box::new(|v| v == DEFAULT_SECRET_PREFIX),
    );
    expected.insert(
        "ROTATOR_MEMBER_ROLE_NAME",
        Box::new(|v| v == DEFAULT_MEMBER_ROLE_NAME),
    );

    let mut stated = Vec::new();
    for row in defaults_table() {
        let Some((variable, value)) = assignment(&row.function) else {
            continue;
        };
        let check = expected.get(variable.as_str()).unwrap_or_else(|| {
            panic!("docs/deploy.md's defaults name {variable}, which this test does not check")
        });
        assert!(
            check(&value),
            "docs/deploy.md says {variable} defaults to {value:?} ({}), the function's code disagrees",
            row.setting
        );
        stated.push(variable);
    }
    for variable in expected.keys() {
        assert!(
            stated.iter().any(|name| name == variable),
            "docs/deploy.md's defaults table no longer states {variable}"
        );
    }

    // The contract's table of variables states the same defaults, in its last column.
    let contract = read("docs/contract.md");
    let mut in_contract = 0;
    for line in contract
        .lines()
        .filter(|line| line.starts_with("| `ROTATOR_"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let variable = cells[0].trim_matches('`');
        let Some(check) = expected.get(variable) else {
            continue;
        };
        let default = cells[cells.len() - 1];
        let value = default.split('`').nth(1).unwrap_or(default);
        assert!(
            check(value),
            "docs/contract.md says {variable} defaults to {value:?}, the function's code disagrees"
        );
        in_contract += 1;
    }
    assert_eq!(
        in_contract,
        expected.len(),
        "docs/contract.md's configuration table states every default of deploy.md's table"
    );
}

#[test]
fn the_table_states_the_deployments_defaults() {
    let defaults = infra_defaults();
    let mut stated = Vec::new();
    for row in defaults_table() {
        let Some((field, value)) = assignment(&row.deployment) else {
            continue;
        };
        let in_code = defaults.get(&field).unwrap_or_else(|| {
            panic!("docs/deploy.md's defaults name `{field}`, which infra/lib/config.ts's DEFAULTS does not have")
        });
        assert_eq!(
            &value, in_code,
            "docs/deploy.md says `{field}` defaults to {value}, infra/lib/config.ts says {in_code}"
        );
        stated.push(field);
    }
    for field in [
        "oldKeyPolicy",
        "rotationDays",
        "maxKeyAgeDays",
        "grace",
        "graceMax",
        "usageLag",
        "sweepSchedule",
        "testTimeoutSecs",
        "managedUserPath",
        "memberRoleName",
        "rotateImmediately",
    ] {
        assert!(
            stated.iter().any(|name| name == field),
            "docs/deploy.md's defaults table no longer states `{field}`"
        );
    }
}

#[test]
fn the_doctors_fix_schedules_the_deployments_interval() {
    let metadata = SecretMetadata {
        arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:IamKeyRotator/alice-AbCdEf"
            .to_owned(),
        name: "IamKeyRotator/alice".to_owned(),
        rotation_enabled: false,
        rotation_function: None,
        rotation_interval_days: None,
        last_rotated: None,
        next_rotation: None,
        versions: BTreeMap::new(),
        tags: BTreeMap::new(),
    };
    let findings = check_secret(&metadata, "IamKeyRotator/", None);
    let fix = findings
        .iter()
        .map(|finding| finding.fix.as_str())
        .find(|fix| fix.contains("AutomaticallyAfterDays="))
        .expect("the doctor's fix for a secret without rotation sets AutomaticallyAfterDays");
    assert_eq!(
        days_after(fix, "AutomaticallyAfterDays="),
        Some(infra_default("rotationDays")),
        "the doctor's fix ({fix}) must schedule the deployment's default rotationDays"
    );
}

/// The digits right after `marker` in `text`.
fn days_after(text: &str, marker: &str) -> Option<String> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// README.md and every page of docs/, with their names.
fn documentation() -> Vec<(String, String)> {
    let mut pages = vec![("README.md".to_owned(), read("README.md"))];
    let mut names: Vec<String> = fs::read_dir(repository().join("docs"))
        .expect("reading docs/")
        .map(|entry| {
            entry
                .expect("listing docs/")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    for name in names {
        let text = read(&format!("docs/{name}"));
        pages.push((format!("docs/{name}"), text));
    }
    pages
}

/// A figure with its unit, in seconds (`24 h`, `7 days`, `28h`), or a bare number of the
/// field's own unit (`81` for `rotationDays`).
fn figure_after(text: &str) -> Option<(u64, Option<u64>)> {
    let text = text.trim_start().trim_start_matches('(').trim_start();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let number: u64 = digits.parse().ok()?;
    let after = text[digits.len()..].trim_start();
    let word: String = after
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let unit = match word.as_str() {
        "s" | "second" | "seconds" => Some(1),
        "m" | "min" | "minute" | "minutes" => Some(60),
        "h" | "hour" | "hours" => Some(3600),
        "d" | "day" | "days" => Some(86_400),
        _ => None,
    };
    Some((number, unit))
}

/// A field's default, in seconds for a duration, or as a bare number with the seconds of the
/// field's unit.
fn default_seconds(field: &str) -> (u64, u64) {
    let value = infra_default(field);
    let number = |text: &str| {
        text.parse::<u64>()
            .unwrap_or_else(|_| panic!("DEFAULTS.{field} is not a whole number: {text}"))
    };
    match field {
        "rotationDays" | "maxKeyAgeDays" => (number(&value), 86_400),
        "testTimeoutSecs" => (number(&value), 1),
        _ => match parse_duration(&value) {
            Ok(duration) => (duration.as_secs(), 1),
            Err(problem) => panic!("DEFAULTS.{field}: {problem}"),
        },
    }
}

#[test]
fn the_prose_quotes_the_defaults() {
    const FIELDS: [&str; 6] = [
        "rotationDays",
        "maxKeyAgeDays",
        "graceMax",
        "grace",
        "usageLag",
        "testTimeoutSecs",
    ];
    let rotation_days = infra_default("rotationDays");
    let mut problems = Vec::new();
    for (page, text) in documentation() {
        // "every N days": the interval, unless it quotes a compliance check ("... or less").
        for (at, _) in text.match_indices("every ") {
            let rest = &text[at + "every ".len()..];
            if let Some((number, Some(86_400))) = figure_after(rest) {
                let quoted_check = rest
                    .split_once("days")
                    .is_some_and(|(_, after)| after.trim_start().starts_with("or less"));
                if !quoted_check && number.to_string() != rotation_days {
                    problems.push(format!("{page}: \"every {number} days\", but rotationDays defaults to {rotation_days}"));
                }
            }
        }
        for (at, _) in text.match_indices("AutomaticallyAfterDays=") {
            let days = days_after(&text[at..], "AutomaticallyAfterDays=");
            if days.as_deref() != Some(rotation_days.as_str()) {
                problems.push(format!("{page}: AutomaticallyAfterDays={days:?}, but rotationDays defaults to {rotation_days}"));
            }
        }
        // "`grace` (24 h)", "`graceMax` 7 days", "`grace` + `usageLag` (28 h by default)".
        let mut search = 0;
        while let Some(found) = text[search..].find('`') {
            let start = search + found;
            search = start + 1;
            let mut chain = Vec::new();
            let mut cursor = start;
            while let Some(field) = FIELDS
                .iter()
                .find(|field| text[cursor..].starts_with(&format!("`{field}`")))
            {
                chain.push(*field);
                cursor += field.len() + 2;
                if text[cursor..].starts_with(" + ") {
                    cursor += 3;
                } else {
                    break;
                }
            }
            if chain.is_empty() {
                continue;
            }
            search = cursor;
            let Some((number, unit)) = figure_after(&text[cursor..]) else {
                continue;
            };
            let expected: u64 = chain
                .iter()
                .map(|field| {
                    let (value, field_unit) = default_seconds(field);
                    value * field_unit
                })
                .sum();
            let unit = unit.unwrap_or_else(|| default_seconds(chain[0]).1);
            if number * unit != expected {
                problems.push(format!(
                    "{page}: {} followed by {number} ({} s), but the defaults give {expected} s",
                    chain.join(" + "),
                    number * unit
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "figures that disagree with the defaults:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_longest_life_of_a_key_follows_from_the_defaults() {
    // rotationDays + 1 day (the schedule's window) + graceMax + an hourly sweep + the
    // credential report's 4 hours (infra/lib/key-age.ts adds up the same).
    let days = default_seconds("rotationDays").0 + 1 + default_seconds("graceMax").0 / 86_400;
    assert_eq!(infra_default("sweepSchedule"), "rate(1 hour)");
    let expected = format!("{days} days 5 hours");
    for page in ["README.md", "docs/deploy.md", "docs/guarantees.md"] {
        assert!(
            read(page).contains(&expected),
            "{page} must state the longest life of an active key under the defaults, {expected}"
        );
    }
}

#[test]
fn the_figure_checks_catch_a_wrong_figure() {
    assert_eq!(figure_after(" (28 h by default)"), Some((28, Some(3600))));
    assert_eq!(figure_after(" 81, `grace`"), Some((81, None)));
    assert_eq!(figure_after(" = `81`"), None);
    assert_eq!(
        days_after("AutomaticallyAfterDays=90 --no", "AutomaticallyAfterDays="),
        Some("90".to_owned())
    );
    assert_eq!(
        assignment("`ROTATOR_OLD_KEY` = `delete`"),
        Some(("ROTATOR_OLD_KEY".to_owned(), "delete".to_owned()))
    );
    assert_eq!(assignment("the secret's own schedule"), None);
}
