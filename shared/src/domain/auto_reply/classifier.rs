//! Keyword classifier for inbound patient SMS.
//!
//! Decides which automatic reply (if any) to send. Pure functions, no I/O.
//!
//! Algorithm:
//! 1. The text and every keyword are normalised the same way: lower-cased,
//!    apostrophes dropped ("what's" -> "whats"), every other non-alphanumeric
//!    character is a word boundary, and each token is reduced to a simple
//!    singular ("hours" -> "hour", "addresses" -> "address").
//! 2. Negation phrases of every rule are masked out of the token stream; a
//!    masked token can never be part of a later match (phrases cannot span it).
//! 3. A rule matches if one of its `keywords` occurs as consecutive tokens, or
//!    one of its `weak_keywords` occurs together with one of its
//!    `context_keywords` at a non-overlapping position — unless one of its
//!    `exclusions` occurs anywhere in the text (masked or not): a text about a
//!    delivery or a fee is not a question about the address or a booking,
//!    whatever words it shares.
//! 4. Of the matching rules the one with the highest priority wins (ties: first
//!    in the slice); no match means no automatic reply.

/// Category of automatic reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Appointment,
    Emergency,
    OfficeHours,
    Location,
    Insurance,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Appointment,
        Category::Emergency,
        Category::OfficeHours,
        Category::Location,
        Category::Insurance,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Appointment => "appointment",
            Category::Emergency => "emergency",
            Category::OfficeHours => "office_hours",
            Category::Location => "location",
            Category::Insurance => "insurance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Category::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

/// One category's rule; plain data so it can be stored in Postgres as
/// `text[]` columns and edited without a deploy.
#[derive(Debug, Clone)]
pub struct Rule {
    pub category: Category,
    /// Higher wins when several categories match; emergency must be highest.
    pub priority: i32,
    /// Words or multi-word phrases that trigger on their own.
    pub keywords: Vec<String>,
    /// Trigger only when one of `context_keywords` also occurs in the message.
    pub weak_keywords: Vec<String>,
    pub context_keywords: Vec<String>,
    /// Phrases masked out of the text before matching.
    pub negations: Vec<String>,
    /// Phrases that, anywhere in the text (negations do not hide them), keep this rule from matching.
    pub exclusions: Vec<String>,
}

/// Reduce a lower-cased token to a simple singular form. Applied identically
/// to message tokens and keyword tokens, so it only needs to be consistent.
fn singular(tok: &str) -> String {
    let mut token = tok.to_string();
    singularize(&mut token);
    token
}

/// [`singular`] in place.
fn singularize(token: &mut String) {
    let n = token.chars().count();
    if n <= 3 || !token.ends_with('s') {
        return;
    }
    if token.ends_with("sses") {
        // addresses -> address, glasses -> glass
        token.truncate(token.len() - 2);
    } else if token.ends_with("ss") || token.ends_with("us") || token.ends_with("is") {
        // address, status, this
    } else if n > 4 && token.ends_with("ies") {
        // emergencies -> emergency
        token.truncate(token.len() - 3);
        token.push('y');
    } else {
        token.truncate(token.len() - 1);
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{02BC}')
}

/// Split text into normalised tokens (see module docs).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if is_apostrophe(c) {
            continue;
        }
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(singular(&cur));
            cur.clear();
        }
    }
    if !cur.is_empty() {
        out.push(singular(&cur));
    }
    out
}

/// Classify an inbound text. Returns the category of the highest-priority
/// matching rule, or `None` when no rule matches.
/// An emergency outranks every other category whatever the priorities say: a mis-edited priority
/// must never turn an emergency into an appointment reply.
///
/// Prepares the rules for this one call; keep a [`Classifier`] to answer many texts.
pub fn classify(rules: &[Rule], text: &str) -> Option<Category> {
    Classifier::new(rules).classify(text)
}

/// A token of the text that no rule mentions, or one a negation masked: equal to no phrase token.
const UNKNOWN: u32 = u32::MAX;
const MASKED: u32 = u32::MAX - 1;

/// Which of a rule's phrase lists a phrase belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Keyword,
    Weak,
    Context,
    Exclusion,
}

/// The rules, tokenized once: every phrase as token ids, indexed by its first token, so a text is
/// tokenized once and each of its positions looks up only the phrases that can start there.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    vocabulary: std::collections::HashMap<String, u32, BuildFnv>,
    /// (rule, list, phrase) for every non-empty phrase.
    phrases: Vec<(usize, List, Vec<u32>)>,
    /// Phrase indices by first token id.
    starting_with: Vec<Vec<usize>>,
    /// Every rule's negations, longest first: a longer phrase is masked before a shorter one that
    /// overlaps it ("pain is gone" before "gone"); equal lengths keep the rules' order.
    negations: Vec<Vec<u32>>,
    /// Negation indices by first token id.
    negations_starting_with: Vec<Vec<usize>>,
    rules: Vec<(Category, i32)>,
}

impl Classifier {
    pub fn new(rules: &[Rule]) -> Self {
        let mut classifier = Self::default();
        for (index, rule) in rules.iter().enumerate() {
            classifier.rules.push((rule.category, rule.priority));
            let lists = [
                (List::Keyword, &rule.keywords),
                (List::Weak, &rule.weak_keywords),
                (List::Context, &rule.context_keywords),
                (List::Exclusion, &rule.exclusions),
            ];
            for (list, phrases) in lists {
                for phrase in phrases {
                    let ids = classifier.intern(phrase);
                    if !ids.is_empty() {
                        classifier.phrases.push((index, list, ids));
                    }
                }
            }
        }
        let mut negations: Vec<Vec<u32>> = rules
            .iter()
            .flat_map(|r| r.negations.iter())
            .map(|n| classifier.intern(n))
            .filter(|n| !n.is_empty())
            .collect();
        // Stable: equal lengths keep the rules' order.
        negations.sort_by_key(|n| std::cmp::Reverse(n.len()));
        classifier.negations_starting_with = vec![Vec::new(); classifier.vocabulary.len()];
        for (i, negation) in negations.iter().enumerate() {
            classifier.negations_starting_with[negation[0] as usize].push(i);
        }
        classifier.negations = negations;
        classifier.starting_with = vec![Vec::new(); classifier.vocabulary.len()];
        for (i, (_, _, ids)) in classifier.phrases.iter().enumerate() {
            classifier.starting_with[ids[0] as usize].push(i);
        }
        classifier
    }

    fn intern(&mut self, phrase: &str) -> Vec<u32> {
        tokenize(phrase)
            .into_iter()
            .map(|token| {
                let next = self.vocabulary.len() as u32;
                *self.vocabulary.entry(token).or_insert(next)
            })
            .collect()
    }

    /// The text's tokens as ids ([`UNKNOWN`] for words no rule has): [`tokenize`] without a
    /// string per token.
    fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut token = String::new();
        let finish = |token: &mut String, ids: &mut Vec<u32>| {
            singularize(token);
            ids.push(self.vocabulary.get(token.as_str()).copied().unwrap_or(UNKNOWN));
            token.clear();
        };
        for c in text.chars() {
            if is_apostrophe(c) {
                continue;
            }
            if c.is_ascii_alphanumeric() {
                token.push(c.to_ascii_lowercase());
            } else if c.is_alphanumeric() {
                token.extend(c.to_lowercase());
            } else if !token.is_empty() {
                finish(&mut token, &mut ids);
            }
        }
        if !token.is_empty() {
            finish(&mut token, &mut ids);
        }
        ids
    }

    pub fn classify(&self, text: &str) -> Option<Category> {
        let unmasked = self.token_ids(text);
        let mut tokens = unmasked.clone();
        // Only the negations that start with one of the text's words can occur in it; they are
        // masked in their global order (longest first).
        let mut candidates: Vec<usize> = unmasked
            .iter()
            .filter_map(|token| self.negations_starting_with.get(*token as usize))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for n in candidates {
            for (start, end) in occurrences(&tokens, &self.negations[n]) {
                tokens[start..end].fill(MASKED);
            }
        }
        // Per rule: a keyword, an exclusion, and the spans of its weak and context words.
        let mut keyword = vec![false; self.rules.len()];
        let mut excluded = vec![false; self.rules.len()];
        let mut weak: Vec<(usize, usize, usize)> = Vec::new();
        // Per rule, the earliest end and the latest start of its context words: a weak word has a
        // context word beside it exactly when one ends before it starts or starts after it ends,
        // so these two suffice (linear in the hits, however many a crafted text has).
        let mut context_first_end = vec![usize::MAX; self.rules.len()];
        let mut context_last_start: Vec<Option<usize>> = vec![None; self.rules.len()];
        for (stream, exclusions) in [(&tokens, false), (&unmasked, true)] {
            for (at, token) in stream.iter().enumerate() {
                let Some(candidates) = self.starting_with.get(*token as usize) else {
                    continue;
                };
                for &p in candidates {
                    let (rule, list, ids) = &self.phrases[p];
                    if (*list == List::Exclusion) != exclusions || !stream[at..].starts_with(ids) {
                        continue;
                    }
                    let span = (*rule, at, at + ids.len());
                    match list {
                        List::Exclusion => excluded[*rule] = true,
                        List::Keyword => keyword[*rule] = true,
                        List::Weak => weak.push(span),
                        List::Context => {
                            context_first_end[*rule] = context_first_end[*rule].min(span.2);
                            context_last_start[*rule] = context_last_start[*rule].max(Some(span.1));
                        }
                    }
                }
            }
        }
        let matches = |rule: usize| {
            !excluded[rule]
                && (keyword[rule]
                    || weak.iter().filter(|w| w.0 == rule).any(|&(_, ws, we)| {
                        context_first_end[rule] <= ws || context_last_start[rule].is_some_and(|cs| cs >= we)
                    }))
        };
        if (0..self.rules.len()).any(|r| self.rules[r].0 == Category::Emergency && matches(r)) {
            return Some(Category::Emergency);
        }
        let mut best: Option<usize> = None;
        for (r, (_, priority)) in self.rules.iter().enumerate() {
            if best.is_some_and(|b| self.rules[b].1 >= *priority) {
                continue;
            }
            if matches(r) {
                best = Some(r);
            }
        }
        best.map(|r| self.rules[r].0)
    }
}

/// FNV-1a, faster than SipHash on short words. SipHash guards a table against keys chosen to
/// collide; here the keys are the rules' own words and a text only looks words up.
#[derive(Debug, Clone, Copy, Default)]
struct BuildFnv;

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;

    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Where `phrase` occurs in `tokens` as consecutive tokens (`(start, end)`, end exclusive).
fn occurrences(tokens: &[u32], phrase: &[u32]) -> Vec<(usize, usize)> {
    if phrase.is_empty() || phrase.len() > tokens.len() {
        return Vec::new();
    }
    (0..=tokens.len() - phrase.len())
        .filter(|&start| tokens[start..].starts_with(phrase))
        .map(|start| (start, start + phrase.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cat: Category, prio: i32, kw: &[&str]) -> Rule {
        Rule {
            category: cat,
            priority: prio,
            keywords: kw.iter().map(|s| s.to_string()).collect(),
            weak_keywords: vec![],
            context_keywords: vec![],
            negations: vec![],
            exclusions: vec![],
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn category_roundtrip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        assert_eq!(Category::parse("OFFICE_HOURS"), Some(Category::OfficeHours));
        assert_eq!(Category::parse("nope"), None);
    }

    #[test]
    fn emergency_wins_even_with_a_lower_priority() {
        let r = [
            rule(Category::Appointment, 90, &["appointment"]),
            rule(Category::Emergency, 1, &["bleeding"]),
        ];
        assert_eq!(
            classify(&r, "appointment please, my gums are bleeding"),
            Some(Category::Emergency)
        );
    }

    #[test]
    fn empty_rules_or_text_give_none() {
        assert_eq!(classify(&[], "I am in pain"), None);
        assert_eq!(classify(&[rule(Category::Emergency, 100, &["pain"])], ""), None);
        assert_eq!(classify(&[rule(Category::Emergency, 100, &["pain"])], "  ?!  "), None);
    }

    #[test]
    fn whole_words_only() {
        let r = [
            rule(Category::Emergency, 100, &["pain"]),
            rule(Category::OfficeHours, 10, &["open"]),
        ];
        assert_eq!(classify(&r, "nice painting"), None);
        assert_eq!(classify(&r, "can you reopen my file"), None);
        assert_eq!(classify(&r, "Spain trip"), None);
        assert_eq!(classify(&r, "in PAIN!!"), Some(Category::Emergency));
        assert_eq!(classify(&r, "open?"), Some(Category::OfficeHours));
    }

    #[test]
    fn case_punctuation_and_apostrophes() {
        // apostrophe dropped, then the same plural rule as everywhere ("whats" -> "what")
        assert_eq!(tokenize("What's your ADDRESS?!"), tokenize("whats your address"));
        assert_eq!(tokenize("What's your ADDRESS?!"), s(&["what", "your", "address"]));
        assert_eq!(tokenize("can’t"), s(&["cant"]));
        let r = [rule(Category::OfficeHours, 10, &["what's open"])];
        assert_eq!(classify(&r, "WHATS OPEN"), Some(Category::OfficeHours));
        assert_eq!(classify(&r, "what’s... open"), Some(Category::OfficeHours));
    }

    #[test]
    fn simple_plurals_both_sides() {
        assert_eq!(
            tokenize("appointments hours addresses directions"),
            tokenize("appointment hour address direction")
        );
        let r = [rule(Category::Location, 10, &["addresses", "direction"])];
        assert_eq!(classify(&r, "your address"), Some(Category::Location));
        assert_eq!(classify(&r, "directions pls"), Some(Category::Location));
        // words ending in -ss / -us / -is are left alone
        assert_eq!(tokenize("address status this"), s(&["address", "status", "this"]));
    }

    #[test]
    fn phrases_are_consecutive_tokens() {
        let r = [rule(Category::Emergency, 100, &["knocked out"])];
        assert_eq!(classify(&r, "tooth got KNOCKED-OUT"), Some(Category::Emergency));
        assert_eq!(classify(&r, "knocked it out"), None);
        assert_eq!(classify(&r, "out knocked"), None);
    }

    #[test]
    fn a_weak_word_needs_context_beside_it_however_many_there_are() {
        let mut r = rule(Category::Insurance, 10, &[]);
        r.weak_keywords = s(&["chip"]);
        r.context_keywords = s(&["cover", "chip card"]);
        let mut other = rule(Category::Location, 5, &[]);
        other.weak_keywords = s(&["far"]);
        other.context_keywords = s(&["park"]);
        let rules = [r, other];
        assert_eq!(
            classify(&rules, &"chip far park ".repeat(400)),
            Some(Category::Location)
        );
        assert_eq!(
            classify(&rules, &format!("{}cover", "chip ".repeat(400))),
            Some(Category::Insurance)
        );
        // "chip card" overlaps the weak word it contains: it is not context beside it.
        assert_eq!(classify(&rules[..1], "chip card"), None);
        assert_eq!(classify(&rules[..1], "chip card chip"), Some(Category::Insurance));
    }

    #[test]
    fn weak_keywords_need_context() {
        let r = [Rule {
            category: Category::Insurance,
            priority: 10,
            keywords: vec![],
            weak_keywords: s(&["accept", "plan"]),
            context_keywords: s(&["plan", "insurance"]),
            negations: vec![],
            exclusions: vec![],
        }];
        assert_eq!(classify(&r, "can you accept a cheque"), None);
        // a word in both lists cannot be its own context
        assert_eq!(classify(&r, "what's the plan for friday"), None);
        assert_eq!(classify(&r, "do you accept my plan"), Some(Category::Insurance));
    }

    #[test]
    fn negations_are_masked() {
        let r = [Rule {
            category: Category::Emergency,
            priority: 100,
            keywords: s(&["pain", "bleeding"]),
            weak_keywords: vec![],
            context_keywords: vec![],
            negations: s(&["pain is gone", "no pain"]),
            exclusions: vec![],
        }];
        assert_eq!(classify(&r, "the pain is gone"), None);
        assert_eq!(classify(&r, "No pain anymore"), None);
        assert_eq!(
            classify(&r, "the pain is gone but it's still bleeding"),
            Some(Category::Emergency)
        );
        assert_eq!(classify(&r, "no pain yesterday, pain today"), Some(Category::Emergency));
        // a masked gap breaks phrases
        let r2 = [Rule {
            category: Category::Emergency,
            priority: 100,
            keywords: s(&["bad tooth"]),
            weak_keywords: vec![],
            context_keywords: vec![],
            negations: s(&["no pain"]),
            exclusions: vec![],
        }];
        assert_eq!(classify(&r2, "bad no pain tooth"), None);
    }

    #[test]
    fn exclusions_keep_a_rule_from_matching() {
        let r = [
            Rule {
                category: Category::Location,
                priority: 20,
                keywords: s(&["address"]),
                weak_keywords: vec![],
                context_keywords: vec![],
                negations: s(&["no package"]),
                exclusions: s(&["package", "delivery"]),
            },
            rule(Category::Appointment, 10, &["address"]),
        ];
        assert_eq!(classify(&r, "what's your address"), Some(Category::Location));
        // The excluded rule is out; a lower one that matches still answers.
        assert_eq!(
            classify(&r, "Your PACKAGES could not be delivered, confirm your address"),
            Some(Category::Appointment)
        );
        assert_eq!(classify(&r[..1], "address for the delivery?"), None);
        // Negations do not hide an exclusion.
        assert_eq!(classify(&r[..1], "no package, just your address"), None);
    }

    #[test]
    fn priority_decides_and_emergency_wins() {
        let r = [
            rule(Category::Appointment, 40, &["appointment"]),
            rule(Category::Emergency, 100, &["bleeding"]),
            rule(Category::Location, 20, &["address"]),
        ];
        assert_eq!(classify(&r, "appointment and address"), Some(Category::Appointment));
        assert_eq!(
            classify(&r, "need an appointment, gums bleeding"),
            Some(Category::Emergency)
        );
    }
}
