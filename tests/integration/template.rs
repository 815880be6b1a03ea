//! `template.yaml` and the code describe the same system: every endpoint, job, queue consumer and
//! binary is in the template, and the template deploys nothing the code does not have.

use std::collections::BTreeSet;

use pedro_voip::http::ENDPOINTS;
use pedro_voip::jobs::{Job, Schedule};
use serde_norway::Value;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// (binary, resource) for every function in the template.
fn functions(template: &Value) -> Vec<(String, Value)> {
    let resources = template["Resources"].as_mapping().unwrap();
    resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            assert_eq!(r["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
            (
                r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string(),
                r.clone(),
            )
        })
        .collect()
}

/// Functions triggered by the task queue (`pedro_voip::lambda::run_queue_worker`): neither an
/// endpoint nor a scheduled job.
const QUEUE_CONSUMERS: [&str; 2] = ["queue-worker", "transcription-worker"];

/// The queue (and its dead-letter queue) each consumer reads.
fn queue_of(consumer: &str) -> (&'static str, &'static str) {
    match consumer {
        "transcription-worker" => ("TranscriptionQueue", "TranscriptionDeadLetterQueue"),
        _ => ("TaskQueue", "TaskDeadLetterQueue"),
    }
}

fn events_of_type<'a>(resource: &'a Value, kind: &str) -> Vec<&'a Value> {
    resource["Properties"]["Events"]
        .as_mapping()
        .map(|events| {
            events
                .values()
                .filter(|e| e["Type"].as_str() == Some(kind))
                .map(|e| &e["Properties"])
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_endpoint_and_job_is_deployed_and_nothing_else() {
    let template = template();
    let deployed = functions(&template);
    let names: BTreeSet<&str> = deployed.iter().map(|(n, _)| n.as_str()).collect();
    let in_code: BTreeSet<&str> = ENDPOINTS
        .iter()
        .map(|e| e.function)
        .chain(Job::ALL.iter().map(|j| j.name()))
        .chain(QUEUE_CONSUMERS)
        .collect();
    assert_eq!(names, in_code, "functions in template.yaml vs the code");

    let binaries: BTreeSet<String> = std::fs::read_dir(root().join("functions/src/bin"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    assert_eq!(
        binaries.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        in_code,
        "binaries in functions/"
    );

    for endpoint in ENDPOINTS {
        let (_, resource) = deployed.iter().find(|(n, _)| n == endpoint.function).unwrap();
        let routes: BTreeSet<(String, String)> = events_of_type(resource, "HttpApi")
            .iter()
            .map(|p| {
                (
                    p["Method"].as_str().unwrap().to_uppercase(),
                    p["Path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if endpoint.function == "sms-webhook" {
            // VoIP.ms cannot send headers or use API routes: the webhook answers on its function URL.
            assert!(
                resource["Properties"]["FunctionUrlConfig"].is_mapping(),
                "webhook needs a function URL"
            );
            assert!(routes.is_empty());
            continue;
        }
        let expected: BTreeSet<(String, String)> = endpoint
            .methods
            .iter()
            .map(|m| (m.to_string(), endpoint.path.to_string()))
            .collect();
        assert_eq!(routes, expected, "routes of {}", endpoint.function);
    }
    for job in Job::ALL {
        let (_, resource) = deployed.iter().find(|(n, _)| n == job.name()).unwrap();
        let schedules = events_of_type(resource, "ScheduleV2");
        assert_eq!(schedules.len(), 1, "{} runs on one schedule", job.name());
        let expression = schedules[0]["ScheduleExpression"].as_str();
        match job.schedule() {
            Schedule::Every(every) => {
                let minutes = every.as_secs() / 60;
                assert_eq!(expression, Some(format!("rate({minutes} minutes)").as_str()));
            }
            // A daily job runs at its local time: a cron expression in a named time zone.
            Schedule::Daily { hour, minute } => {
                assert_eq!(expression, Some(format!("cron({minute} {hour} * * ? *)").as_str()));
                let zone = &schedules[0]["ScheduleExpressionTimezone"];
                let (function, parameter) = intrinsic(zone);
                assert_eq!(function, "Ref", "{}", job.name());
                let default = template["Parameters"][parameter.as_str().unwrap()]["Default"].as_str();
                assert!(
                    default.is_some_and(|z| z.parse::<chrono_tz::Tz>().is_ok()),
                    "{}: {default:?} is a time zone",
                    job.name()
                );
            }
        }
        assert!(schedules[0]["RetryPolicy"].is_mapping() && schedules[0]["DeadLetterConfig"].is_mapping());
    }
    for consumer in QUEUE_CONSUMERS {
        let (_, resource) = deployed.iter().find(|(n, _)| n == consumer).unwrap();
        let kinds: Vec<&str> = resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|events| events.values())
            .map(|e| e["Type"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(kinds, ["SQS"], "{consumer} is triggered by its queue only");
        let sqs = events_of_type(resource, "SQS")[0];
        let (function, queue) = intrinsic(&sqs["Queue"]);
        let arn = format!("{}.Arn", queue_of(consumer).0);
        assert_eq!(
            (function.as_str(), queue.as_str()),
            ("GetAtt", Some(arn.as_str())),
            "{consumer} consumes its queue"
        );
        // Without it one failed task makes SQS deliver the whole batch again.
        let response_types = sqs["FunctionResponseTypes"].as_sequence().cloned().unwrap_or_default();
        assert!(
            response_types
                .iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures")),
            "{consumer} answers partial batch failures: {response_types:?}"
        );
    }
}

/// The worker settles a task on its last delivery (`QUEUE_MAX_ATTEMPTS`): that must be the
/// delivery after which SQS moves it to the dead-letter queue. A batch in progress must not
/// become visible again (AWS advises six times the consumer's timeout).
#[test]
fn each_queue_agrees_with_its_worker() {
    let template = template();
    let deployed = functions(&template);
    for consumer in QUEUE_CONSUMERS {
        let (queue_name, dead_letters) = queue_of(consumer);
        let queue = &template["Resources"][queue_name]["Properties"];
        let receives = queue["RedrivePolicy"]["maxReceiveCount"]
            .as_u64()
            .expect("a redrive policy");
        let (function, target) = intrinsic(&queue["RedrivePolicy"]["deadLetterTargetArn"]);
        let dead_letters = format!("{dead_letters}.Arn");
        assert_eq!(
            (function.as_str(), target.as_str()),
            ("GetAtt", Some(dead_letters.as_str()))
        );
        let attempts = template["Globals"]["Function"]["Environment"]["Variables"]["QUEUE_MAX_ATTEMPTS"]
            .as_str()
            .and_then(|n| n.parse::<u64>().ok());
        assert_eq!(
            attempts,
            Some(receives),
            "QUEUE_MAX_ATTEMPTS vs {queue_name}'s maxReceiveCount"
        );
        let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
        let (_, resource) = deployed.iter().find(|(n, _)| n == consumer).unwrap();
        let timeout = resource["Properties"]["Timeout"]
            .as_u64()
            .or_else(|| template["Globals"]["Function"]["Timeout"].as_u64())
            .unwrap();
        assert!(visibility >= 6 * timeout, "{consumer}: {visibility}s vs {timeout}s");
    }
}

/// The recordings are encrypted, never public, and only the functions that need them may touch
/// them: the history cannot read the bucket.
#[test]
fn the_recordings_bucket_is_private_and_only_its_users_reach_it() {
    let template = template();
    let bucket = &template["Resources"]["RecordingsBucket"]["Properties"];
    let sse = &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
    assert_eq!(sse["SSEAlgorithm"].as_str(), Some("AES256"));
    // The retention backstop: S3 expires recordings itself should the daily pass stop.
    let rules = serde_norway::to_string(&bucket["LifecycleConfiguration"]["Rules"]).unwrap();
    assert!(
        rules.contains("HasRetention") && rules.contains("RecordingRetentionDays") && rules.contains("recordings/"),
        "{rules}"
    );
    let block = &bucket["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key].as_bool(), Some(true), "{key}");
    }
    let deployed = functions(&template);
    let s3_actions = |name: &str| -> BTreeSet<String> {
        let (_, resource) = deployed.iter().find(|(n, _)| n == name).unwrap();
        let text = serde_norway::to_string(&resource["Properties"]["Policies"]).unwrap_or_default();
        // Actions, not condition keys such as `s3:prefix`.
        text.split(|c: char| !(c.is_alphanumeric() || c == ':'))
            .filter(|w| w.starts_with("s3:") && !w.ends_with(':'))
            .map(String::from)
            .collect()
    };
    let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(s3_actions("call-history"), set(&[]));
    assert_eq!(s3_actions("call-recordings"), set(&[]));
    assert_eq!(s3_actions("sms-send"), set(&[]));
    assert_eq!(s3_actions("sync-calls"), set(&["s3:PutObject"]));
    assert_eq!(
        s3_actions("call-recording-link"),
        set(&["s3:GetObject", "s3:ListBucket", "s3:PutObject"])
    );
    assert_eq!(s3_actions("call-delete"), set(&["s3:DeleteObject"]));
    assert_eq!(s3_actions("daily-analytics"), set(&["s3:DeleteObject"]));
    assert_eq!(s3_actions("analytics"), set(&[]));
    assert_eq!(
        s3_actions("transcription-worker"),
        set(&["s3:GetObject", "s3:ListBucket"])
    );
    assert_eq!(s3_actions("search"), set(&[]));
    // The settings functions only touch the database: no AWS permission beyond logging.
    for name in [
        "settings",
        "settings-update",
        "auto-reply-rules",
        "auto-reply-rule-update",
    ] {
        let (_, resource) = deployed.iter().find(|(n, _)| n == name).unwrap();
        assert!(resource["Properties"]["Policies"].is_null(), "{name}");
        assert!(resource["Properties"]["VpcConfig"].is_null(), "{name}");
    }
}

#[test]
fn secrets_are_noecho_parameters() {
    let template = template();
    for name in [
        "DatabaseUrl",
        "VoipMsUsername",
        "VoipMsPassword",
        "TwilioAccountSid",
        "TwilioAuthToken",
        "WebhookSecret",
        "OpenAiApiKey",
        "GoogleCredentialsJson",
        "HuggingFaceToken",
    ] {
        assert_eq!(template["Parameters"][name]["NoEcho"].as_bool(), Some(true), "{name}");
    }
}

/// The functions that call VoIP.ms, which answers only allow-listed addresses.
const CALLS_VOIPMS: [&str; 7] = [
    "queue-worker",
    "sms-send",
    "configure-webhook",
    "check-sms",
    "sync-calls",
    "voip-sync",
    "call-recording-link",
];

/// `!Name value` as (Name, value).
fn intrinsic(value: &Value) -> (String, &Value) {
    match value {
        Value::Tagged(tagged) => (
            tagged.tag.to_string().trim_start_matches('!').to_string(),
            &tagged.value,
        ),
        other => panic!("not an intrinsic function: {other:?}"),
    }
}

#[test]
fn functions_that_call_voipms_can_leave_through_the_operators_nat() {
    let template = template();
    for name in ["VoipMsSubnetIds", "VoipMsSecurityGroupIds"] {
        let parameter = &template["Parameters"][name];
        assert_eq!(parameter["Type"].as_str(), Some("CommaDelimitedList"), "{name}");
        assert_eq!(parameter["Default"].as_str(), Some(""), "{name} is optional");
    }
    // Empty subnets: no VPC at all.
    let (function, _) = intrinsic(&template["Conditions"]["VoipMsInVpc"]);
    assert_eq!(function, "Not");

    let deployed = functions(&template);
    for binary in CALLS_VOIPMS {
        assert!(deployed.iter().any(|(b, _)| b == binary), "{binary} is deployed");
    }
    for (binary, resource) in deployed {
        let vpc = &resource["Properties"]["VpcConfig"];
        if !CALLS_VOIPMS.contains(&binary.as_str()) {
            assert!(
                vpc.is_null(),
                "{binary} does not call VoIP.ms: no VPC (and no NAT cost)"
            );
            continue;
        }
        let (function, args) = intrinsic(vpc);
        assert_eq!(function, "If", "{binary}");
        let args = args.as_sequence().unwrap();
        assert_eq!(args[0].as_str(), Some("VoipMsInVpc"), "{binary}");
        let (_, subnets) = intrinsic(&args[1]["SubnetIds"]);
        let (_, groups) = intrinsic(&args[1]["SecurityGroupIds"]);
        assert_eq!(subnets.as_str(), Some("VoipMsSubnetIds"), "{binary}");
        assert_eq!(groups.as_str(), Some("VoipMsSecurityGroupIds"), "{binary}");
        let (function, no_value) = intrinsic(&args[2]);
        assert_eq!(
            (function.as_str(), no_value.as_str()),
            ("Ref", Some("AWS::NoValue")),
            "{binary}"
        );
    }
}

/// Lambda's own throttling answers 429 too, and VoIP.ms retries only 30 minutes later: the webhook
/// has no concurrency cap a flood could fill. configure-webhook knows the stack's own webhook URL.
#[test]
fn the_webhook_is_not_capped_and_configure_knows_its_url() {
    let template = template();
    let deployed = functions(&template);
    let resource = |binary: &str| {
        deployed
            .iter()
            .find(|(name, _)| name == binary)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    let webhook = resource("sms-webhook");
    assert!(
        webhook["Properties"]["ReservedConcurrentExecutions"].is_null(),
        "{:?}",
        webhook["Properties"]
    );
    let configure = resource("configure-webhook");
    let public =
        serde_norway::to_string(&configure["Properties"]["Environment"]["Variables"]["PUBLIC_WEBHOOK_URL"]).unwrap();
    assert!(
        public.contains("${SmsWebhookFunctionUrl.FunctionUrl}api/voip/sms/webhook"),
        "{public}"
    );
}

#[test]
fn the_twilio_webhook_is_told_the_public_url_twilio_signs() {
    let template = template();
    let (_, function) = functions(&template)
        .into_iter()
        .find(|(n, _)| n == "twilio-webhook")
        .unwrap();
    let variable = &function["Properties"]["Environment"]["Variables"]["TWILIO_WEBHOOK_URL"];
    assert_eq!(
        serde_norway::to_string(variable).unwrap().trim(),
        "!Ref TwilioWebhookUrl"
    );
    assert_eq!(template["Parameters"]["TwilioWebhookUrl"]["Default"].as_str(), Some(""));
    let path = ENDPOINTS.iter().find(|e| e.function == "twilio-webhook").unwrap().path;
    let output = serde_norway::to_string(&template["Outputs"]["TwilioWebhookUrl"]["Value"]).unwrap();
    assert!(
        output.contains(&format!(".execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{path}")),
        "{output}"
    );
}

/// A browser may call every method an endpoint has (the console calls PUT for settings).
#[test]
fn cors_allows_every_method_of_the_endpoints() {
    let template = template();
    let allowed: BTreeSet<String> = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["AllowMethods"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_uppercase())
        .collect();
    for endpoint in ENDPOINTS {
        for method in endpoint.methods {
            assert!(allowed.contains(*method), "{method} {}", endpoint.path);
        }
    }
}
