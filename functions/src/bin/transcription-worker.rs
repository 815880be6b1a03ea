//! Lambda function `transcription-worker`: consumes the transcription queue (SQS), answering
//! partial batch failures. All behaviour is in pedro-voip.

#[tokio::main]
async fn main() -> Result<(), pedro_voip::lambda::Error> {
    pedro_voip::lambda::run_queue_worker().await
}
