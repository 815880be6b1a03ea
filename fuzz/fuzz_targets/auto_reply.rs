//! The auto-responder: `classify` over rules built from the fuzz input, and `compliance_keyword`.
//!
//! Input: leading lines `@<category> <priority>: keywords | weak | context | negations | exclusions` (lists
//! comma-separated) are the rules, the rest is the patient's text; see `corpus/auto_reply/`.
//!
//! Properties, besides "never panics":
//! - the answer is `None` or the category of some rule given;
//! - an emergency wins whatever the priorities: the answer is `Emergency` exactly when one of the
//!   emergency rules matches on its own (with every rule's negations still masking the text);
//! - otherwise the winner matches on its own, and no rule with a higher priority does;
//! - a rule whose keyword is the text itself matches that text (when the text has any words);
//! - ASCII case in the text does not matter;
//! - `compliance_keyword` ignores ASCII case and only answers for a single bare word.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pedro_voip::domain::auto_reply::{classify, Category, Rule};
use pedro_voip::domain::compliance::compliance_keyword;

/// Bounds so one run stays fast (the real rule set has 5 topic rules of up to ~70 phrases a list).
const MAX_RULES: usize = 8;
const MAX_PHRASES: usize = 80;

fn phrases(list: Option<&str>) -> Vec<String> {
    list.map(|l| l.split(',').take(MAX_PHRASES).map(str::to_string).collect())
        .unwrap_or_default()
}

/// `@<category> <priority>: keywords | weak keywords | context keywords | negations | exclusions`, each list
/// comma-separated. An unknown category is picked by its first byte, a bad priority is 0.
fn rule(line: &str) -> Rule {
    let (head, lists) = line.split_once(':').unwrap_or((line, ""));
    let mut head = head.split_whitespace();
    let name = head.next().unwrap_or_default();
    let category = Category::parse(name).unwrap_or_else(|| {
        let pick = name.bytes().next().unwrap_or(0) as usize;
        Category::ALL[pick % Category::ALL.len()]
    });
    let priority = head.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let mut lists = lists.split('|');
    Rule {
        category,
        priority,
        keywords: phrases(lists.next()),
        weak_keywords: phrases(lists.next()),
        context_keywords: phrases(lists.next()),
        negations: phrases(lists.next()),
        exclusions: phrases(lists.next()),
    }
}

/// Leading lines starting with `@` are rules; the rest of the input is the patient's text.
fn parse(input: &str) -> (Vec<Rule>, &str) {
    let mut rules = Vec::new();
    let mut rest = input;
    while let Some(line) = rest.strip_prefix('@') {
        let (line, after) = line.split_once('\n').unwrap_or((line, ""));
        if rules.len() < MAX_RULES {
            rules.push(rule(line));
        }
        rest = after;
    }
    (rules, rest)
}

/// A rule that can never match but still masks the text with `negations` (exclusions only ever
/// keep their own rule from matching).
fn negations_only(r: &Rule) -> Rule {
    Rule {
        category: r.category,
        priority: r.priority,
        keywords: vec![],
        weak_keywords: vec![],
        context_keywords: vec![],
        negations: r.negations.clone(),
        exclusions: vec![],
    }
}

/// Does `rule` match `text` on its own, masked by the negations of all `rules`?
fn matches_alone(rules: &[Rule], rule: &Rule, text: &str) -> bool {
    let mut set: Vec<Rule> = rules.iter().map(negations_only).collect();
    set.push(rule.clone());
    let answer = classify(&set, text);
    assert!(answer.is_none() || answer == Some(rule.category));
    answer.is_some()
}

fuzz_target!(|input: &str| {
    let (rules, text) = parse(input);
    let answer = classify(&rules, text);

    if let Some(category) = answer {
        assert!(
            rules.iter().any(|r| r.category == category),
            "{category:?} is no rule's category"
        );
    }

    let emergency_matches = rules
        .iter()
        .filter(|r| r.category == Category::Emergency)
        .any(|r| matches_alone(&rules, r, text));
    assert_eq!(
        answer == Some(Category::Emergency),
        emergency_matches,
        "emergency rules matched: {emergency_matches}, answer {answer:?}"
    );

    if let Some(category) = answer.filter(|c| *c != Category::Emergency) {
        let matching: Vec<&Rule> = rules.iter().filter(|r| matches_alone(&rules, r, text)).collect();
        let top = matching.iter().map(|r| r.priority).max();
        let winner = matching
            .iter()
            .find(|r| Some(r.priority) == top)
            .expect("an answer but no rule matches alone");
        assert_eq!(
            winner.category, category,
            "the first highest-priority matching rule should win"
        );
    } else if answer.is_none() {
        assert!(
            !rules.iter().any(|r| matches_alone(&rules, r, text)),
            "a rule matches alone but the answer is None"
        );
    }

    // ASCII case never matters.
    assert_eq!(classify(&rules, &text.to_ascii_uppercase()), answer);
    assert_eq!(classify(&rules, &text.to_ascii_lowercase()), answer);

    // The text as a keyword of its own rule (no negations) matches it, whatever the category.
    // (Apostrophes are dropped, and U+02BC MODIFIER LETTER APOSTROPHE is alphabetic.)
    let has_words = text
        .chars()
        .any(|c| c.is_alphanumeric() && !matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{02BC}'));
    for category in Category::ALL {
        let own = Rule {
            category,
            priority: 0,
            keywords: vec![text.to_string()],
            weak_keywords: vec![],
            context_keywords: vec![],
            negations: vec![],
            exclusions: vec![],
        };
        let got = classify(std::slice::from_ref(&own), text);
        if has_words {
            assert_eq!(got, Some(category), "a text does not match itself");
        }
    }

    // Carrier keywords.
    let keyword = compliance_keyword(text);
    assert_eq!(compliance_keyword(&text.to_ascii_uppercase()), keyword);
    if keyword.is_some() {
        let word = text.trim().trim_end_matches(['.', '!', '?']).trim();
        assert!(
            !word.is_empty() && word.chars().all(|c| c.is_alphabetic()),
            "{text:?} is a carrier keyword"
        );
    }
});
