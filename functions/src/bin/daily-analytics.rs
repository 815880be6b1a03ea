//! Lambda function `recording-retention`: scheduled job (EventBridge, daily). All behaviour is in
//! pedro-voip.

#[tokio::main]
async fn main() -> Result<(), pedro_voip::lambda::Error> {
    pedro_voip::lambda::run_job(pedro_voip::jobs::Job::RecordingRetention).await
}
