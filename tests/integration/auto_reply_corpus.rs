//! The auto-responder scored on labelled patient texts, with the rules exactly as seeded in the
//! database. Two sets: `sms_corpus.tsv`, the set the rules were first tuned on, and `sms_unseen.tsv`,
//! written apart from the rules and scored blind before they were revised (figures in the README).

use std::collections::BTreeMap;

use pedro_tests::spawn_app;
use pedro_voip::domain::auto_reply::{Category, Classifier, Rule};
use pedro_voip::store::replies;

/// How a rule set did on one labelled set. A reply is correct when its category is the label;
/// a text labelled `none` needs no automatic answer.
#[derive(Debug, Default)]
struct Score {
    per_label: BTreeMap<String, usize>,
    sent: usize,
    labelled: usize,
    correct: usize,
    emergencies: usize,
    emergencies_found: usize,
    no_answer: usize,
    no_answer_answered: usize,
    misses: Vec<String>,
}

impl Score {
    fn precision(&self) -> f64 {
        self.correct as f64 / self.sent as f64
    }

    fn recall(&self) -> f64 {
        self.correct as f64 / self.labelled as f64
    }

    fn no_answer_answered_rate(&self) -> f64 {
        self.no_answer_answered as f64 / self.no_answer as f64
    }

    fn texts(&self) -> usize {
        self.per_label.values().sum()
    }

    fn print(&self, name: &str) {
        println!("{name}: {} texts {:?}", self.texts(), self.per_label);
        println!(
            "  precision on replies sent:  {}/{} = {:.3}",
            self.correct,
            self.sent,
            self.precision()
        );
        println!(
            "  recall:                     {}/{} = {:.3}",
            self.correct,
            self.labelled,
            self.recall()
        );
        println!(
            "  emergencies found:          {}/{}",
            self.emergencies_found, self.emergencies
        );
        println!(
            "  no-answer texts answered:   {}/{} = {:.3}",
            self.no_answer_answered,
            self.no_answer,
            self.no_answer_answered_rate()
        );
        println!("  misclassified:\n{}", self.misses.join("\n"));
    }
}

/// Scores `corpus` (lines `label<TAB>text`; labels are categories or `none`).
fn score(rules: &[Rule], corpus: &str) -> Score {
    let mut score = Score::default();
    let prepared = Classifier::new(rules);
    for (line, entry) in corpus.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let (label, text) = entry
            .split_once('\t')
            .unwrap_or_else(|| panic!("line {}: no tab", line + 1));
        *score.per_label.entry(label.to_string()).or_default() += 1;
        let want = (label != "none")
            .then(|| Category::parse(label).unwrap_or_else(|| panic!("line {}: label {label}", line + 1)));
        let got = prepared.classify(text);
        score.sent += usize::from(got.is_some());
        score.labelled += usize::from(want.is_some());
        score.correct += usize::from(got.is_some() && got == want);
        if want == Some(Category::Emergency) {
            score.emergencies += 1;
            score.emergencies_found += usize::from(got == want);
        }
        if want.is_none() {
            score.no_answer += 1;
            score.no_answer_answered += usize::from(got.is_some());
        }
        if got != want {
            let name = |c: Option<Category>| c.map_or("none", |c| c.as_str());
            score.misses.push(format!(
                "  line {:>3}: want {:<12} got {:<12} {text}",
                line + 1,
                name(want),
                name(got)
            ));
        }
    }
    score
}

async fn seeded_rules() -> Vec<Rule> {
    let app = spawn_app().start().await;
    let client = app.ctx.conn().await.unwrap();
    let rules = replies::load_rules(&**client, app.practice_id).await.unwrap();
    assert_eq!(rules.topics.len(), 5, "five topic rules are seeded for every practice");
    rules.topics
}

/// Holds precision ≥ 95 % on replies sent, recall ≥ 90 %, every emergency found, and at most 3 % of
/// texts that need no answer answered.
fn assert_meets_the_goal(score: &Score) {
    assert!(score.texts() >= 150 && score.no_answer >= 50 && score.emergencies >= 25);
    assert!(score.precision() >= 0.95, "precision {:.3}", score.precision());
    assert!(score.recall() >= 0.90, "recall {:.3}", score.recall());
    assert_eq!(
        score.emergencies_found, score.emergencies,
        "every emergency must be found"
    );
    assert!(
        score.no_answer_answered_rate() <= 0.03,
        "{} of {} texts needing no answer were answered",
        score.no_answer_answered,
        score.no_answer
    );
}

#[tokio::test]
async fn labelled_corpus_meets_precision_recall_and_finds_every_emergency() {
    let score = score(&seeded_rules().await, include_str!("../data/sms_corpus.tsv"));
    score.print("auto-responder, tuning set");
    assert_meets_the_goal(&score);
}

#[tokio::test]
async fn texts_written_apart_from_the_rules_meet_the_same_goal() {
    let score = score(&seeded_rules().await, include_str!("../data/sms_unseen.tsv"));
    score.print("auto-responder, set written apart from the rules");
    assert_meets_the_goal(&score);
}
