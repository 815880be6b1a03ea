//! Lambda function `daily-analytics`: scheduled job (EventBridge Scheduler, daily shortly after
//! midnight): each practice's analytics rollups, then the recording retention pass. All behaviour
//! is in pedro-voip.

#[tokio::main]
async fn main() -> Result<(), pedro_voip::lambda::Error> {
    pedro_voip::lambda::run_job(pedro_voip::jobs::Job::DailyAnalytics).await
}
