//! Key facts and a summary of a transcribed call. PLACEHOLDER until the facts module lands.

use uuid::Uuid;

use crate::app::AppContext;
use crate::queue::TaskError;
use crate::store::transcripts::Claimed;

pub async fn summarise(_ctx: &AppContext, _recording_id: Uuid, _claimed: &Claimed, _text: &str) -> Result<(), TaskError> {
    Ok(())
}
