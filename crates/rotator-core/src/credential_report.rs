//! The IAM credential report's CSV, parsed into typed rows for the fleet's audit.

use crate::ports::{CredentialReportRow, EpochSecs, ReportedKey};

/// The account's root user, which the report lists first; it is no IAM user and holds no
/// rotated key.
const ROOT_ACCOUNT: &str = "<root_account>";

/// Parses a credential report. A row is one IAM user; its two access key slots become the keys
/// it holds. A header without the expected columns is refused, naming the first one missing.
pub fn parse(text: &str) -> Result<Vec<CredentialReportRow>, String> {
    // IAM user names may hold commas: the report quotes such fields, as CSV does.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err("is empty".to_owned()),
        Some(record) => record.map_err(|e| format!("has an unreadable header ({e})"))?,
    };
    let header: Vec<&str> = header.iter().collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("has no column {name}"))
    };
    let user = column("user")?;
    let arn = column("arn")?;
    let slots = [1, 2]
        .iter()
        .map(|n| {
            Ok([
                column(&format!("access_key_{n}_active"))?,
                column(&format!("access_key_{n}_last_rotated"))?,
                column(&format!("access_key_{n}_last_used_date"))?,
                column(&format!("access_key_{n}_last_used_service"))?,
                column(&format!("access_key_{n}_last_used_region"))?,
            ])
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut rows = Vec::new();
    for (index, record) in records.enumerate() {
        let record = record.map_err(|e| format!("row {} is unreadable ({e})", index + 2))?;
        let field = |i: usize| record.get(i).unwrap_or("");
        if field(user) == ROOT_ACCOUNT {
            continue;
        }
        let keys = slots
            .iter()
            .filter_map(|[active, rotated, used, service, region]| {
                // A slot that never held a key reports `false` and `N/A` throughout.
                let last_rotated = parse_time(field(*rotated));
                let active = field(*active) == "true";
                (active || last_rotated.is_some()).then(|| ReportedKey {
                    active,
                    last_rotated,
                    last_used: parse_time(field(*used)),
                    last_used_service: known(field(*service)),
                    last_used_region: known(field(*region)),
                })
            })
            .collect();
        rows.push(CredentialReportRow {
            user: field(user).to_owned(),
            arn: field(arn).to_owned(),
            keys,
        });
    }
    Ok(rows)
}

/// A text field, unless it is one of the report's placeholders.
fn known(text: &str) -> Option<String> {
    (!matches!(text, "" | "N/A" | "not_supported" | "no_information")).then(|| text.to_owned())
}

/// Parses the report's ISO 8601 times (`2026-11-01T10:00:00+00:00`, `...Z`, with or without
/// fractions of a second); anything else (`N/A`, `no_information`) is no time.
pub fn parse_time(text: &str) -> Option<EpochSecs> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset: i64 = match rest {
        "" | "Z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(i64::try_from(local).ok()? - offset).ok()
}

/// Howard Hinnant's civil-to-days algorithm: days since 1970-01-01 (for years after 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::rfc3339;

    const REPORT: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::123456789012:root,2026-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::123456789012:user/alice,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-08-01T12:00:00+00:00,2026-11-30T08:15:00+00:00,eu-west-1,s3,false,2026-05-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A
bob,arn:aws:iam::123456789012:user/ops/bob,2026-01-01T00:00:00+00:00,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
";

    #[test]
    fn rows_hold_users_and_the_key_slots_they_use() {
        let rows = parse(REPORT).expect("parses");
        assert_eq!(rows.len(), 2, "the root account is no IAM user");
        let alice = &rows[0];
        assert_eq!(alice.user, "alice");
        assert_eq!(alice.keys.len(), 2);
        assert!(alice.keys[0].active);
        assert_eq!(
            alice.keys[0].last_rotated.map(rfc3339).as_deref(),
            Some("2026-08-01T12:00:00Z")
        );
        assert_eq!(
            alice.keys[0].last_used.map(rfc3339).as_deref(),
            Some("2026-11-30T08:15:00Z")
        );
        assert_eq!(alice.keys[0].last_used_service.as_deref(), Some("s3"));
        assert_eq!(alice.keys[0].last_used_region.as_deref(), Some("eu-west-1"));
        assert!(!alice.keys[1].active, "an inactive key is still a key");
        assert_eq!(alice.keys[1].last_used, None);
        assert!(rows[1].keys.is_empty(), "bob has no key");
    }

    #[test]
    fn a_user_name_with_a_comma_is_one_quoted_field() {
        let header = REPORT.lines().next().expect("a header");
        let report = format!(
            "{header}\n\"ops,batch\",arn:aws:iam::123456789012:user/ops,batch,2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-08-01T12:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        // The ARN is not quoted here on purpose: a row with a field too many is refused, not
        // read with its columns shifted.
        assert!(parse(&report).is_err());
        let quoted = report.replace(
            "arn:aws:iam::123456789012:user/ops,batch",
            "\"arn:aws:iam::123456789012:user/ops,batch\"",
        );
        let rows = parse(&quoted).expect("parses");
        assert_eq!(rows[0].user, "ops,batch");
        assert!(rows[0].keys[0].active);
    }

    #[test]
    fn a_report_without_key_columns_is_refused_by_name() {
        assert_eq!(
            parse("user,arn\nalice,arn:aws:iam::1:user/alice\n"),
            Err("has no column access_key_1_active".to_owned())
        );
        assert_eq!(parse(""), Err("is empty".to_owned()));
    }

    #[test]
    fn times_parse_with_offsets_and_fractions() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2000-02-29T00:00:00+00:00"), Some(951_782_400));
        assert_eq!(
            parse_time("2000-02-29T01:00:00.123+01:00"),
            Some(951_782_400)
        );
        assert_eq!(parse_time("2026-11-18T11:06:40Z"), Some(1_795_000_000));
        assert_eq!(parse_time("N/A"), None);
        assert_eq!(parse_time("no_information"), None);
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
        assert_eq!(
            parse_time("0000-01-01T00:00:00Z"),
            None,
            "no underflow before 1970"
        );
    }
}
