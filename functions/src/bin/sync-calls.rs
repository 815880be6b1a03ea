//! Lambda function `sync-calls`: scheduled job (EventBridge, hourly). All behaviour is in pedro-voip.

#[tokio::main]
async fn main() -> Result<(), pedro_voip::lambda::Error> {
    pedro_voip::lambda::run_job(pedro_voip::jobs::Job::SyncCalls).await
}
