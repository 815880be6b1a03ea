//! Lambda function `queue-worker`: consumes the SQS task queue (replies to send; later
//! transcriptions). All behaviour is in pedro-voip.

#[tokio::main]
async fn main() -> Result<(), pedro_voip::lambda::Error> {
    pedro_voip::lambda::run_queue_worker().await
}
