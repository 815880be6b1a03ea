//! The SMS gateway port, one contract for every adapter (VoIP.ms and Twilio against their fakes,
//! the sandbox outbox against Postgres): a text taken is answered with its id and shows in the
//! carrier's sent list (or the carrier says it cannot tell); a refusal is `NotSent`; a lost answer
//! is `Unknown`, never a refusal, since the text may be on its way.

use std::time::Duration;

use pedro_tests::app::PATIENT;
use pedro_tests::fakes::twilio::TwilioFault;
use pedro_tests::fakes::voipms::Fault;
use pedro_tests::{spawn_app, TestApp};
use pedro_voip::domain::phone::{Did, PhoneNumber};
use pedro_voip::sms::gateway::{CarrierError, OutboundSms, Provider, SmsGateway};

/// How to make one adapter refuse a text, or lose its answer; None where it cannot happen.
struct Faults {
    refuse: Option<fn(&TestApp)>,
    lose_answer: Option<fn(&TestApp)>,
    clear: fn(&TestApp),
}

async fn contract(app: &TestApp, gateway: &dyn SmsGateway, provider: Provider, faults: Faults) {
    let from = Did::parse(pedro_tests::app::DID).unwrap();
    let to = PhoneNumber::parse(PATIENT).unwrap();
    let sms = |body: &'static str| OutboundSms {
        practice_id: app.practice_id,
        from: &from,
        to: &to,
        body,
    };
    assert_eq!(gateway.provider(), provider);
    let since = app.clock_now() - chrono::Duration::minutes(1);

    let id = gateway.send(&sms("Your crown is ready")).await.unwrap();
    assert!(
        id.is_some_and(|id| !id.is_empty()),
        "{provider:?}: an id for the record"
    );
    match gateway.sent_since(&from, &to, since).await {
        Ok(sent) => assert!(
            sent.iter().any(|r| r.body == "Your crown is ready"),
            "{provider:?}: a text taken is in its sent list: {sent:?}"
        ),
        // A carrier that cannot tell must say so: an unknown outcome then stays unknown.
        Err(reason) => assert_eq!(provider, Provider::Twilio, "{reason}"),
    }

    if let Some(refuse) = faults.refuse {
        refuse(app);
        let error = gateway.send(&sms("refused")).await.unwrap_err();
        assert!(matches!(error, CarrierError::NotSent { .. }), "{provider:?}: {error:?}");
        (faults.clear)(app);
    }
    if let Some(lose) = faults.lose_answer {
        lose(app);
        let error = gateway.send(&sms("answer lost")).await.unwrap_err();
        assert!(matches!(error, CarrierError::Unknown { .. }), "{provider:?}: {error:?}");
        (faults.clear)(app);
    }
}

#[tokio::test]
async fn voipms_keeps_the_gateway_contract() {
    let app = spawn_app().start().await;
    let faults = Faults {
        refuse: Some(|app| app.voipms.set_fault("sendSMS", Some(Fault::Status("sms_failed")))),
        lose_answer: Some(|app| {
            app.voipms
                .set_fault("sendSMS", Some(Fault::AcceptThenDelay(Duration::from_millis(1500))))
        }),
        clear: |app| app.voipms.set_fault("sendSMS", None),
    };
    contract(&app, app.ctx.carriers.primary.as_ref(), Provider::VoipMs, faults).await;
}

#[tokio::test]
async fn twilio_keeps_the_gateway_contract() {
    let app = spawn_app().twilio().start().await;
    let faults = Faults {
        refuse: Some(|app| {
            app.twilio.set_fault(Some(TwilioFault::Error {
                http_status: 400,
                code: 21211,
                message: "Invalid 'To' Phone Number".into(),
                retry_after: None,
            }))
        }),
        lose_answer: Some(|app| {
            app.twilio
                .set_fault(Some(TwilioFault::Delay(Duration::from_millis(1500))))
        }),
        clear: |app| app.twilio.set_fault(None),
    };
    let twilio = app.ctx.carriers.fallback.as_ref().unwrap();
    contract(&app, twilio.as_ref(), Provider::Twilio, faults).await;
}

#[tokio::test]
async fn the_sandbox_outbox_keeps_the_gateway_contract() {
    let app = spawn_app().sandbox().start().await;
    let faults = Faults {
        refuse: None,
        lose_answer: None,
        clear: |_| {},
    };
    contract(&app, app.ctx.carriers.primary.as_ref(), Provider::Sandbox, faults).await;
}
