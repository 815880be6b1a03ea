//! Lambda function `settings`: API endpoint. All behaviour is in pedro-voip.

#[tokio::main]
async fn main() -> Result<(), pedro_voip::lambda::Error> {
    pedro_voip::lambda::serve_endpoint("settings").await
}
