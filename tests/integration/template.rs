//! `template.yaml` and the code describe the same system: every endpoint, job and binary is in the
//! template, and the template deploys nothing the code does not have.

use std::collections::BTreeSet;

use pedro_voip::http::ENDPOINTS;
use pedro_voip::jobs::Job;
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
        let minutes = job.every().as_secs() / 60;
        assert_eq!(
            schedules[0]["ScheduleExpression"].as_str(),
            Some(format!("rate({minutes} minutes)").as_str())
        );
        assert!(schedules[0]["RetryPolicy"].is_mapping() && schedules[0]["DeadLetterConfig"].is_mapping());
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
    ] {
        assert_eq!(template["Parameters"][name]["NoEcho"].as_bool(), Some(true), "{name}");
    }
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
