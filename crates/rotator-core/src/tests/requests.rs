//! What a rotation costs in AWS requests: the budget that a warm instance keeps, and the cold
//! path that a step on another instance takes, with the same outcome.

use crate::config::OldKeyPolicy;
use crate::ports::KeyStatus;
use crate::rotation::{AWSCURRENT, Rotator};
use crate::testing::{World, settings};
use crate::types::{ClientRequestToken, RotationEvent, SecretId, Step};

const USER: &str = "alice";
const SECRET: &str = "IamKeyRotator/alice";

fn token(n: u32) -> String {
    format!("0d6f2b91-0000-4000-8000-{n:012}")
}

fn world() -> World {
    World::with_user_and_secret(USER, SECRET, r#"{"UserName":"alice"}"#, "owner@example.com")
}

/// Runs the four steps of one rotation, each on `instance(step)`, and returns the AWS requests
/// of each step (the success email left out: it is the notifier's, not the rotation's).
async fn rotate(
    world: &World,
    token: &str,
    instance: impl Fn() -> Rotator,
) -> Vec<Vec<&'static str>> {
    world.start_rotation(SECRET, token);
    let mut per_step = Vec::new();
    for step in Step::ALL {
        let rotator = instance();
        let before = world.state().calls.len();
        let event = RotationEvent {
            step,
            secret_id: SecretId::new(SECRET).expect("id"),
            token: ClientRequestToken::new(token).expect("token"),
            rotation_token: None,
        };
        rotator.handle(&event).await.expect("the step succeeds");
        let calls = world.state().calls[before..]
            .iter()
            .copied()
            .filter(|call| !call.starts_with("sesv2:"))
            .collect();
        per_step.push(calls);
    }
    per_step
}

fn total(per_step: &[Vec<&'static str>]) -> usize {
    per_step.iter().map(Vec::len).sum()
}

#[tokio::test]
async fn a_warm_instance_rotates_in_16_requests_then_18_under_delete() {
    let world = world();
    let warm = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    let first = rotate(&world, &token(1), || warm.clone()).await;
    assert_eq!(
        first,
        vec![
            vec![
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:GetSecretValue",
                "iam:ListAccessKeys",
                "iam:ListUserTags",
                "iam:TagUser",
                "iam:CreateAccessKey",
                "iam:TagUser",
                "secretsmanager:PutSecretValue",
            ],
            vec!["secretsmanager:DescribeSecret"],
            vec!["secretsmanager:DescribeSecret", "sts:GetCallerIdentity"],
            vec![
                "secretsmanager:DescribeSecret",
                "secretsmanager:UpdateSecretVersionStage",
                "iam:UntagUser",
                "secretsmanager:UpdateSecretVersionStage",
            ],
        ]
    );
    assert_eq!(total(&first), 16);
    // The later rotation comes weeks later, on a new instance: it reads AWSCURRENT afresh.
    let later_instance = Rotator::new(world.ports(), settings(OldKeyPolicy::Delete));
    let later = rotate(&world, &token(2), || later_instance.clone()).await;
    assert_eq!(total(&later), 18, "{later:?}");
    assert_eq!(
        later[3],
        vec![
            "secretsmanager:DescribeSecret",
            "secretsmanager:UpdateSecretVersionStage",
            "iam:UpdateAccessKey",
            "iam:DeleteAccessKey",
            "iam:UntagUser",
            "secretsmanager:UpdateSecretVersionStage",
        ]
    );
    let state = world.state();
    let keys = &state.users[USER].keys;
    assert_eq!(keys.len(), 1, "the old key is deleted: {keys:?}");
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert_eq!(
        state.users[USER].tags.keys().collect::<Vec<_>>(),
        vec![&format!("rotator:key:{}", keys[0].id)],
        "only the record of the key the user holds"
    );
}

#[tokio::test]
async fn steps_on_cold_instances_read_afresh_and_end_the_same() {
    let warm_world = world();
    let warm = Rotator::new(warm_world.ports(), settings(OldKeyPolicy::Delete));
    let cold_world = world();
    // Each cold step reads the values again (setSecret 2, testSecret 1, finishSecret 2) and
    // finishSecret lists the tags: what every step cost before instances remembered anything.
    for (n, cold_total) in [(1, 22), (2, 24)] {
        rotate(&warm_world, &token(n), || warm.clone()).await;
        let cold_steps = rotate(&cold_world, &token(n), || {
            Rotator::new(cold_world.ports(), settings(OldKeyPolicy::Delete))
        })
        .await;
        assert_eq!(total(&cold_steps), cold_total, "{cold_steps:?}");
        assert!(cold_steps[3].contains(&"iam:ListUserTags"));
    }
    let shape = |world: &World| {
        let state = world.state();
        let secret = &state.secrets[SECRET];
        (
            state.users[USER].keys.len(),
            state.users[USER].tags.len(),
            secret.version_with(AWSCURRENT).map(|(id, _)| id.clone()),
        )
    };
    assert_eq!(shape(&warm_world), shape(&cold_world));
}
