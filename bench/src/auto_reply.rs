//! Auto-responder: the seeded rules classifying the labelled corpora's texts, cycled, on one thread.

use std::hint::black_box;
use std::time::Instant;

use anyhow::Context;

use crate::table::Row;
use crate::{pg, Ctx};

/// The texts of `tests/data/sms_corpus.tsv` and `sms_unseen.tsv` (label, tab, text).
pub fn corpus() -> anyhow::Result<Vec<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    let mut texts = Vec::new();
    for file in ["sms_corpus.tsv", "sms_unseen.tsv"] {
        let path = dir.join(file);
        let data = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        texts.extend(
            data.lines()
                .filter_map(|l| l.split_once('\t'))
                .map(|(_, text)| text.to_string()),
        );
    }
    anyhow::ensure!(!texts.is_empty(), "the corpora are empty");
    Ok(texts)
}

/// The most the classification runs.
const BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    // The rules as every new practice gets them (seeded by the migrations' trigger).
    let practice = crate::create_practice(ctx, "5145550500", "Classifier bench").await?;
    let client = pg::connect(&ctx.db_url).await?;
    // Prepared once, as the webhook has them prepared with the practice's context.
    let classifier = pedro_voip::store::replies::load_rules(&client, practice)
        .await?
        .classifier;
    let corpus = corpus()?;
    let n = ctx.n(1_000_000, 1_000);
    let texts: Vec<&str> = corpus.iter().map(String::as_str).cycle().take(n).collect();
    // On this thread, without yielding: one core. A classifier far off the goal would take many
    // minutes for all of them: it stops after BUDGET, and the table says how many it did.
    let (elapsed, done, answered) = tokio::task::block_in_place(|| {
        let started = Instant::now();
        let (mut done, mut answered) = (0usize, 0usize);
        for chunk in texts.chunks(1_000) {
            for text in chunk {
                if black_box(classifier.classify(black_box(text))).is_some() {
                    answered += 1;
                }
            }
            done += chunk.len();
            if started.elapsed() > BUDGET {
                break;
            }
        }
        (started.elapsed(), done, answered)
    });
    let per_second = done as f64 / elapsed.as_secs_f64();
    ctx.log(format!(
        "classified {done} of {n} texts ({} distinct) in {:.3} s: {per_second:.0}/s, {answered} with an answer",
        corpus.len(),
        elapsed.as_secs_f64()
    ));
    let stopped = if done < n {
        format!(", stopped after {} s at {done}", BUDGET.as_secs())
    } else {
        String::new()
    };
    Ok(vec![Row::new(
        format!("auto-responder: classify {n} texts, one core{stopped}"),
        format!(
            "{:.2} M texts/s ({:.2} µs each)",
            per_second / 1e6,
            elapsed.as_secs_f64() * 1e6 / done as f64
        ),
    )
    .goal("≥ 1M texts/s", per_second >= 1e6)])
}
