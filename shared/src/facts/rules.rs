//! Call facts without a model: keyword and pattern rules over the transcript's words, with chrono
//! for the calendar. Deterministic, so the same transcript always gives the same facts; the
//! conventions (what "next Tuesday" or "at 3" means) are those of docs/call-facts.md, which the
//! model is asked to follow too.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

use super::{
    CallFacts, MentionedTime, Request, Resolved, Urgency, MAX_ACTION_CHARS, MAX_FOLLOW_UP_ACTIONS, MAX_MENTIONED_TIMES,
    MAX_NAMES, MAX_NAME_CHARS, MAX_PHONE_NUMBERS, MAX_SUMMARY_CHARS, MAX_TIME_TEXT_CHARS, SCHEMA_VERSION,
};
use crate::domain::phone::PhoneNumber;

/// The facts of a call, by rules. `call_started_local` is in the practice's time zone.
pub fn extract_rules(transcript: &str, call_started_local: NaiveDateTime) -> CallFacts {
    let words = Words::new(transcript);
    let phones = phone_numbers(&words);
    let mut taken = vec![false; words.len()];
    for phone in &phones {
        taken[phone.first..=phone.last].iter_mut().for_each(|t| *t = true);
    }
    let mentioned_times = mentioned_times(&words, &taken, call_started_local.date());
    let names = names(&words);
    let request = request(&words);
    let callback_requested = callback_requested(&words, &phones);
    let urgency = urgency(&words, request, callback_requested);
    let phone_numbers: Vec<String> = dedup(phones.iter().map(|p| p.value.as_e164().to_string()))
        .into_iter()
        .take(MAX_PHONE_NUMBERS)
        .collect();
    let caller = names.iter().find(|n| n.caller).map(|n| n.text.clone());
    let call = Call {
        request,
        urgency,
        callback_requested,
        caller,
        phone: phone_numbers.first().cloned(),
        first_time: mentioned_times
            .iter()
            .find(|t| t.resolved.is_some())
            .map(|t| t.text.clone()),
        wrong_number: words.has_phrase("wrong number"),
        confirming: words.has_any(&["confirm", "confirming"]),
        visit: visit_kind(&words),
    };
    CallFacts {
        schema_version: SCHEMA_VERSION,
        summary: summary(&call),
        request,
        urgency,
        mentioned_times,
        phone_numbers,
        names: names.into_iter().map(|n| n.text).take(MAX_NAMES).collect(),
        callback_requested,
        follow_up_actions: follow_up_actions(&call),
    }
}

// ----------------------------------------------------------------------------------------------
// Words

/// What follows a word: nothing, a comma, or the end of a sentence (`.`, `?`, `!`, `;`, or a
/// speaker label such as `Receptionist:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pause {
    None,
    Comma,
    Stop,
}

#[derive(Debug)]
struct Word<'a> {
    /// As written, without the punctuation around it.
    raw: &'a str,
    /// Lowercase, with straight apostrophes: what the rules compare.
    lower: String,
    /// Byte range of `raw` in the transcript.
    start: usize,
    end: usize,
    pause: Pause,
    speaker_label: bool,
}

struct Words<'a> {
    text: &'a str,
    list: Vec<Word<'a>>,
    /// Whether the transcript has capital letters at all: speech recognition often gives none,
    /// and then names cannot be told by their capitals.
    cased: bool,
}

/// Abbreviations whose period does not end a sentence.
const ABBREVIATIONS: [&str; 7] = ["dr", "mr", "mrs", "ms", "st", "a.m", "p.m"];

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        let mut list: Vec<Word<'a>> = Vec::new();
        for chunk in text.split_whitespace() {
            // `chunk` is a slice of `text`: its offset is where it starts.
            let chunk_start = chunk.as_ptr() as usize - text.as_ptr() as usize;
            let inner = chunk.trim_start_matches(|c: char| "\"'(“‘[".contains(c));
            let start = chunk_start + (chunk.len() - inner.len());
            let raw = inner.trim_end_matches(|c: char| ".,!?;:\"')”’]…".contains(c));
            let trailing = &inner[raw.len()..];
            if raw.is_empty() {
                // Punctuation on its own ("...", " ? "): its pause belongs to the word before.
                if let Some(last) = list.last_mut() {
                    last.pause = last.pause.max_with(pause_of(trailing));
                }
                continue;
            }
            let lower = raw.to_lowercase().replace(['’', '‘'], "'");
            let sentence_start = list.last().is_none_or(|w| w.pause == Pause::Stop);
            let speaker_label = trailing.starts_with(':') && sentence_start && raw.chars().all(char::is_alphabetic);
            let mut pause = pause_of(trailing);
            if pause == Pause::Stop && trailing.starts_with('.') && ABBREVIATIONS.contains(&lower.as_str()) {
                pause = Pause::None;
            }
            if speaker_label {
                pause = Pause::Stop;
                if let Some(last) = list.last_mut() {
                    last.pause = Pause::Stop;
                }
            }
            list.push(Word {
                raw,
                lower,
                start,
                end: start + raw.len(),
                pause,
                speaker_label,
            });
        }
        let cased = list
            .iter()
            .filter(|w| !matches!(w.lower.as_str(), "i" | "i'm" | "i'd" | "i've" | "i'll"))
            .any(|w| w.raw.chars().any(char::is_uppercase));
        Self { text, list, cased }
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    /// The lowercase word at `i`, or "" past either end (so look-ahead needs no bounds checks).
    fn at(&self, i: usize) -> &str {
        self.list.get(i).map_or("", |w| w.lower.as_str())
    }

    fn before(&self, i: usize, back: usize) -> &str {
        i.checked_sub(back).map_or("", |j| self.at(j))
    }

    fn pause_after(&self, i: usize) -> Pause {
        self.list.get(i).map_or(Pause::Stop, |w| w.pause)
    }

    /// Whether `phrase` (lowercase words separated by spaces) starts at `i`.
    fn phrase_at(&self, i: usize, phrase: &str) -> bool {
        phrase.split(' ').enumerate().all(|(k, part)| self.at(i + k) == part)
    }

    /// Where `phrase` starts, every time.
    fn phrase_positions<'p>(&'p self, phrase: &'p str) -> impl Iterator<Item = usize> + 'p {
        (0..self.len()).filter(move |&i| self.phrase_at(i, phrase))
    }

    fn has_phrase(&self, phrase: &str) -> bool {
        self.phrase_positions(phrase).next().is_some()
    }

    fn has_any(&self, phrases: &[&str]) -> bool {
        phrases.iter().any(|p| self.has_phrase(p))
    }

    /// Whether one of the three words before `i`, in the same sentence, negates it ("no pain",
    /// "doesn't hurt", "not an emergency", "no need to call back").
    fn negated(&self, i: usize) -> bool {
        (1..=3)
            .take_while(|&back| back <= i && self.pause_after(i - back) != Pause::Stop)
            .any(|back| {
                let word = self.at(i - back);
                matches!(word, "no" | "not" | "never" | "without" | "dont" | "doesnt" | "isnt") || word.ends_with("n't")
            })
    }

    /// The transcript between two words, inclusive, as said.
    fn span_text(&self, first: usize, last: usize) -> &'a str {
        &self.text[self.list[first].start..self.list[last].end]
    }

    fn has_speaker_labels(&self) -> bool {
        self.list.iter().any(|w| w.speaker_label)
    }
}

impl Pause {
    fn max_with(self, other: Pause) -> Pause {
        match (self, other) {
            (Pause::Stop, _) | (_, Pause::Stop) => Pause::Stop,
            (Pause::Comma, _) | (_, Pause::Comma) => Pause::Comma,
            _ => Pause::None,
        }
    }
}

fn pause_of(trailing: &str) -> Pause {
    if trailing.contains(['.', '?', '!', ';', '…']) {
        Pause::Stop
    } else if trailing.contains([',', ':']) {
        Pause::Comma
    } else {
        Pause::None
    }
}

/// Something found in the words `first..=last`.
#[derive(Debug, Clone)]
struct Found<T> {
    value: T,
    first: usize,
    last: usize,
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for item in items {
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(&item)) {
            seen.push(item);
        }
    }
    seen
}

// ----------------------------------------------------------------------------------------------
// Phone numbers

/// Words before a number that make it an identifier, not a phone number.
const ID_WORDS: [&str; 10] = [
    "id",
    "member",
    "policy",
    "claim",
    "account",
    "reference",
    "confirmation",
    "certificate",
    "group",
    "invoice",
];

/// Phone numbers written with digits (`514-555-0123`, `(647) 555-0172`, `438 555 0199`,
/// `1 800 555 0190`, `+44 20 7183 8750`) or spoken digit by digit ("five one four ...").
fn phone_numbers(words: &Words) -> Vec<Found<PhoneNumber>> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let identifier = (1..=3).any(|back| ID_WORDS.contains(&words.before(i, back)));
        match written_number(words, i).or_else(|| spoken_number(words, i)) {
            Some(number) if !identifier => {
                i = number.last + 1;
                found.push(number);
            }
            _ => i += 1,
        }
    }
    found
}

/// A word made of digits and phone punctuation only, split into its digit groups.
fn digit_groups(raw: &str) -> Option<Vec<&str>> {
    let phone_like = raw.chars().all(|c| c.is_ascii_digit() || "-.()+".contains(c));
    if !phone_like || !raw.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(
        raw.split(|c: char| !c.is_ascii_digit())
            .filter(|g| !g.is_empty())
            .collect(),
    )
}

/// Group lengths a North American number is written in; anything else (`4471 2209`,
/// `5627 3418 90`, `39.5`) is some other number.
const NANP_GROUPINGS: [&[usize]; 7] = [&[10], &[11], &[3, 3, 4], &[1, 3, 3, 4], &[3, 7], &[1, 3, 7], &[1, 10]];

fn written_number(words: &Words, i: usize) -> Option<Found<PhoneNumber>> {
    // Digit groups from consecutive number words, up to the end of the sentence.
    let mut groups: Vec<(&str, usize)> = Vec::new();
    let mut j = i;
    while let Some(word) = words.list.get(j) {
        let Some(parts) = digit_groups(word.raw) else { break };
        groups.extend(parts.into_iter().map(|g| (g, j)));
        if word.pause == Pause::Stop || groups.len() > 6 {
            break;
        }
        j += 1;
    }
    if groups.is_empty() {
        return None;
    }
    if words.list[i].raw.starts_with('+') {
        // International: the longest run of groups that is valid E.164.
        return (1..=groups.len()).rev().find_map(|k| {
            let digits: String = groups[..k].iter().map(|(g, _)| *g).collect();
            let number = PhoneNumber::parse(&format!("+{digits}")).ok()?;
            Some(Found {
                value: number,
                first: i,
                last: groups[k - 1].1,
            })
        });
    }
    NANP_GROUPINGS.iter().find_map(|grouping| {
        let lengths: Vec<usize> = groups.iter().take(grouping.len()).map(|(g, _)| g.len()).collect();
        if lengths != *grouping {
            return None;
        }
        let digits: String = groups[..grouping.len()].iter().map(|(g, _)| *g).collect();
        if digits.len() == 11 && !digits.starts_with('1') {
            return None;
        }
        let number = PhoneNumber::parse(&digits).ok()?;
        Some(Found {
            value: number,
            first: i,
            last: groups[grouping.len() - 1].1,
        })
    })
}

fn digit_word(word: &str) -> Option<char> {
    Some(match word {
        "zero" => '0',
        "one" => '1',
        "two" => '2',
        "three" => '3',
        "four" => '4',
        "five" => '5',
        "six" => '6',
        "seven" => '7',
        "eight" => '8',
        "nine" => '9',
        _ => return None,
    })
}

/// "five one four five five five zero one two three", also with "oh" for zero and "double five".
fn spoken_number(words: &Words, i: usize) -> Option<Found<PhoneNumber>> {
    digit_word(words.at(i))?;
    let mut digits = String::new();
    let mut j = i;
    let mut last = i;
    while digits.len() < 11 {
        let word = words.at(j);
        let (added, used) = match (word, digit_word(words.at(j + 1))) {
            ("double", Some(d)) => ([d; 2].iter().collect::<String>(), 2),
            ("triple", Some(d)) => ([d; 3].iter().collect::<String>(), 2),
            ("oh" | "o", _) if !digits.is_empty() => ("0".to_string(), 1),
            _ => match digit_word(word) {
                Some(d) => (d.to_string(), 1),
                None => break,
            },
        };
        digits.push_str(&added);
        last = j + used - 1;
        j += used;
        if words.pause_after(last) == Pause::Stop {
            break;
        }
        // A ten-digit number that does not start with 1 is complete.
        if digits.len() == 10 && !digits.starts_with('1') {
            break;
        }
    }
    let wanted = if digits.starts_with('1') { 11 } else { 10 };
    if digits.len() != wanted {
        return None;
    }
    let number = PhoneNumber::parse(&digits).ok()?;
    Some(Found {
        value: number,
        first: i,
        last,
    })
}

// ----------------------------------------------------------------------------------------------
// Dates and times

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayPart {
    Morning,
    Afternoon,
    Evening,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    hour: u32,
    minute: u32,
    meridiem: Option<Meridiem>,
}

/// One piece of a mentioned time; a mention is one to three adjacent pieces ("next Tuesday" +
/// "at 3", "tomorrow" + "morning").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// None: a period, not a day ("next week", "in two weeks").
    Date(Option<NaiveDate>),
    Time(Clock),
    /// "same time": the last time mentioned.
    SameTime,
    Part(DayPart),
}

impl Piece {
    fn slot(self) -> usize {
        match self {
            Piece::Date(_) => 0,
            Piece::Time(_) | Piece::SameTime => 1,
            Piece::Part(_) => 2,
        }
    }
}

/// Words allowed between two pieces of the same mention ("Tuesday *at* 3", "3 *on* Monday",
/// "a 9:15 *appointment* this morning").
const CONNECTORS: [&str; 8] = ["at", "on", "in", "the", "around", "for", "appointment", "appt"];

/// Reads dates and times left to right, so "the following Monday" and "same time" can refer to
/// what was said before.
struct Calendar {
    today: NaiveDate,
    last_date: Option<NaiveDate>,
    last_time: Option<NaiveTime>,
    /// "a Tuesday or Thursday": the weekday after "or" is as generic as the first.
    generic_weekday_at: Option<usize>,
}

fn mentioned_times(words: &Words, taken: &[bool], today: NaiveDate) -> Vec<MentionedTime> {
    let mut calendar = Calendar {
        today,
        last_date: None,
        last_time: None,
        generic_weekday_at: None,
    };
    let mut pieces: Vec<Found<Piece>> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if taken[i] {
            i += 1;
            continue;
        }
        match calendar.pieces_at(words, i) {
            // "at 1 800 555 0190" is a phone number, not one o'clock.
            Some((found, last)) if taken.get(i..=last).is_some_and(|t| !t.contains(&true)) => {
                pieces.extend(found.into_iter().map(|value| Found { value, first: i, last }));
                i = last + 1;
            }
            _ => i += 1,
        }
    }
    let mut mentions: Vec<MentionedTime> = Vec::new();
    for group in group_pieces(words, pieces) {
        if group.iter().all(|p| matches!(p.value, Piece::Part(_))) {
            continue; // "in the morning" alone is a preference, not a time.
        }
        let resolved = calendar.resolve(&group);
        let text = words.span_text(group[0].first, group[group.len() - 1].last);
        let text: String = text.chars().take(MAX_TIME_TEXT_CHARS).collect();
        let mention = MentionedTime {
            text,
            resolved: resolved.map(Resolved::to_text),
        };
        if !mentions.contains(&mention) {
            mentions.push(mention);
        }
    }
    mentions.truncate(MAX_MENTIONED_TIMES);
    mentions
}

/// Adjacent pieces joined into mentions: at most one date, one time and one part of the day
/// each, separated by connectors only, in one sentence.
fn group_pieces(words: &Words, pieces: Vec<Found<Piece>>) -> Vec<Vec<Found<Piece>>> {
    let mut groups: Vec<Vec<Found<Piece>>> = Vec::new();
    for piece in pieces {
        let joins = groups.last().is_some_and(|group| {
            let last = &group[group.len() - 1];
            let gap = (last.last + 1)..piece.first;
            let slot_free = group.iter().all(|p| p.value.slot() != piece.value.slot());
            let same_sentence = (last.last..piece.first).all(|j| words.pause_after(j) != Pause::Stop);
            let only_connectors = gap.len() <= 3 && gap.clone().all(|j| CONNECTORS.contains(&words.at(j)));
            slot_free && same_sentence && only_connectors
        });
        match groups.last_mut() {
            Some(group) if joins => group.push(piece),
            _ => groups.push(vec![piece]),
        }
    }
    groups
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

fn weekday(word: &str) -> Option<Weekday> {
    WEEKDAYS.iter().find(|(name, _)| *name == word).map(|(_, day)| *day)
}

fn month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if let Some(k) = MONTHS.iter().position(|m| *m == word) {
        return Some(k as u32 + 1);
    }
    // Abbreviations, except "may" and "mar" which are also words.
    const SHORT: [(&str, u32); 11] = [
        ("jan", 1),
        ("feb", 2),
        ("apr", 4),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("sept", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ];
    SHORT.iter().find(|(short, _)| *short == word).map(|(_, m)| *m)
}

fn small_number(word: &str) -> Option<u32> {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    ];
    WORDS.iter().position(|w| *w == word).map(|n| n as u32)
}

/// Ordinal words a day of the month is said with ("the fourteenth", "the twenty first").
fn ordinal_word(words: &Words, i: usize) -> Option<(u32, usize)> {
    const ORDINALS: [&str; 31] = [
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
        "twentieth",
        "twenty-first",
        "twenty-second",
        "twenty-third",
        "twenty-fourth",
        "twenty-fifth",
        "twenty-sixth",
        "twenty-seventh",
        "twenty-eighth",
        "twenty-ninth",
        "thirtieth",
        "thirty-first",
    ];
    let find = |w: &str| ORDINALS.iter().position(|o| *o == w).map(|k| k as u32 + 1);
    // "twenty first" in two words.
    let joined = format!("{}-{}", words.at(i), words.at(i + 1));
    if let Some(day) = find(&joined) {
        return Some((day, i + 1));
    }
    find(words.at(i)).map(|day| (day, i))
}

/// A day of the month as digits, with or without its suffix: "3rd", "14th", "12".
fn day_digits(word: &str) -> Option<(u32, bool)> {
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &word[digits.len()..];
    if digits.is_empty() || digits.len() > 2 || !["", "st", "nd", "rd", "th"].contains(&suffix) {
        return None;
    }
    let day: u32 = digits.parse().ok()?;
    (1..=31).contains(&day).then_some((day, !suffix.is_empty()))
}

/// Phrases for a period rather than a day: mentioned, but resolved to null.
const PERIODS: [&str; 15] = [
    "later in the week",
    "later this week",
    "end of the week",
    "end of the month",
    "next week",
    "this week",
    "last week",
    "next month",
    "this month",
    "last month",
    "next year",
    "this year",
    "last year",
    "the week after",
    "the weekend",
];

impl Calendar {
    /// The pieces that start at word `i`, and the last word they use.
    fn pieces_at(&mut self, words: &Words, i: usize) -> Option<(Vec<Piece>, usize)> {
        if let Some((date, last)) = self.date_at(words, i) {
            if let Some(d) = date {
                self.last_date = Some(d);
            }
            let mut found = vec![Piece::Date(date)];
            // "tonight", "this morning", "last night" carry a part of the day.
            match (words.at(i), words.at(i + 1)) {
                ("tonight", _) | ("last", "night") => found.push(Piece::Part(DayPart::Evening)),
                ("this", "morning") => found.push(Piece::Part(DayPart::Morning)),
                ("this", "afternoon") => found.push(Piece::Part(DayPart::Afternoon)),
                ("this", "evening") => found.push(Piece::Part(DayPart::Evening)),
                _ => {}
            }
            return Some((found, last));
        }
        if let Some((piece, last)) = self.time_at(words, i) {
            return Some((vec![piece], last));
        }
        day_part_at(words, i).map(|(part, last)| (vec![Piece::Part(part)], last))
    }

    fn date_at(&mut self, words: &Words, i: usize) -> Option<(Option<NaiveDate>, usize)> {
        let today = self.today;
        let relative = match (words.at(i), words.at(i + 1)) {
            ("today", _) | ("tonight", _) => Some((today, i)),
            ("this", "morning" | "afternoon" | "evening") => Some((today, i + 1)),
            ("tomorrow" | "tmrw", _) => Some((today + Duration::days(1), i)),
            ("day", "after") if words.at(i + 2) == "tomorrow" => Some((today + Duration::days(2), i + 2)),
            ("yesterday", _) => Some((today - Duration::days(1), i)),
            ("last", "night") => Some((today - Duration::days(1), i + 1)),
            _ => None,
        };
        if let Some((date, last)) = relative {
            return Some((Some(date), last));
        }
        if let Some(found) = self.weekday_at(words, i) {
            return Some(found);
        }
        if let Some((date, last)) = self.calendar_date_at(words, i) {
            return Some((Some(date), last));
        }
        period_at(words, i).map(|last| (None, last))
    }

    /// "Tuesday", "next Tuesday", "this Tuesday", "last Tuesday", "the following Tuesday",
    /// "Tuesday next week", "Monday the 30th", "Thursday December 10th".
    fn weekday_at(&mut self, words: &Words, i: usize) -> Option<(Option<NaiveDate>, usize)> {
        let (modifier, at) = match weekday(words.at(i)) {
            Some(_) => ("", i),
            None if matches!(words.at(i), "next" | "this" | "coming" | "last" | "following") => (words.at(i), i + 1),
            None => return None,
        };
        let day = weekday(words.at(at))?;
        // "a Tuesday", "any Monday", "every Friday" (and "a Tuesday or Thursday") are no day in
        // particular.
        let before = words.before(i, 1);
        let generic_pair = matches!(before, "or" | "and") && self.generic_weekday_at == Some(i.saturating_sub(2));
        if modifier.is_empty() && (matches!(before, "a" | "any" | "every" | "each") || generic_pair) {
            self.generic_weekday_at = Some(i);
            return None;
        }
        // An explicit date after the weekday says more than the weekday.
        if let Some((date, last)) = self.calendar_date_at(words, at + 1) {
            return Some((Some(date), last));
        }
        if words.phrase_at(at + 1, "next week") {
            return Some((Some(in_next_week(self.today, day)), at + 2));
        }
        let date = match modifier {
            "last" => previous(self.today, day),
            "following" => upcoming(self.last_date.unwrap_or(self.today), day),
            "" if said_in_the_past(words, i) => previous(self.today, day),
            "" if after_next_week(words, i) => in_next_week(self.today, day),
            _ => upcoming(self.today, day),
        };
        Some((Some(date), at))
    }

    /// "December 3rd", "Dec 3", "December the 3rd", "March 4th 1958", "the 9th of December",
    /// "the 14th", "on the fourteenth".
    fn calendar_date_at(&self, words: &Words, i: usize) -> Option<(NaiveDate, usize)> {
        if let Some(m) = month(words.at(i)) {
            let at = if words.at(i + 1) == "the" { i + 2 } else { i + 1 };
            let (day, last) = day_digits(words.at(at))
                .map(|(d, _)| (d, at))
                .or_else(|| ordinal_word(words, at))?;
            let year = words
                .at(last + 1)
                .parse::<i32>()
                .ok()
                .filter(|y| (1900..=2100).contains(y));
            return match year {
                Some(year) => Some((NaiveDate::from_ymd_opt(year, m, day)?, last + 1)),
                None => Some((month_day(self.today, m, day)?, last)),
            };
        }
        let at = if words.at(i) == "the" { i + 1 } else { i };
        let (day, last) = match day_digits(words.at(at)) {
            Some((d, suffixed)) if suffixed || words.at(at + 1) == "of" => (d, at),
            Some(_) => return None,
            None => ordinal_word(words, at)?,
        };
        if words.at(last + 1) == "of" {
            if let Some(m) = month(words.at(last + 2)) {
                return Some((month_day(self.today, m, day)?, last + 2));
            }
        }
        // A bare ordinal is a day of the month only as "the 14th", or "on the fourteenth" ("the
        // first time" is not a date).
        let ordinal_in_words = day_digits(words.at(at)).is_none();
        if at == i || (ordinal_in_words && !matches!(words.before(i, 1), "on" | "by" | "until")) {
            return None;
        }
        Some((next_day_of_month(self.today, day)?, last))
    }

    /// "at 3", "3:30 pm", "10am", "around 2 o'clock", "after 4", "at three thirty", "noon",
    /// "same time". A bare number needs a word saying it is a time ("at", "pm", "o'clock").
    fn time_at(&self, words: &Words, i: usize) -> Option<(Piece, usize)> {
        const TRIGGERS: [&str; 9] = ["at", "around", "by", "before", "after", "from", "until", "till", "til"];
        if words.phrase_at(i, "same time") {
            return Some((Piece::SameTime, i + 1));
        }
        let triggered = TRIGGERS.contains(&words.at(i));
        let at = if triggered { i + 1 } else { i };
        if matches!(words.at(at), "noon" | "midday") {
            return Some((Piece::Time(clock(12, 0, None)?), at));
        }
        let (clock, last) = clock_at(words, at, triggered)?;
        Some((Piece::Time(clock), last))
    }

    /// A mention's meaning: a date-time when it has both, a date when it has a date, null when it
    /// has no day.
    fn resolve(&mut self, group: &[Found<Piece>]) -> Option<Resolved> {
        let mut date = None;
        let mut clock = None;
        let mut same_time = false;
        let mut part = None;
        for piece in group {
            match piece.value {
                Piece::Date(d) => date = Some(d),
                Piece::Time(c) => clock = Some(c),
                Piece::SameTime => same_time = true,
                Piece::Part(p) => part = Some(p),
            }
        }
        let time = match clock {
            Some(c) => to_24h(c, part),
            None if same_time => self.last_time,
            None => None,
        };
        if time.is_some() {
            self.last_time = time;
        }
        match (date.flatten(), time) {
            (Some(d), Some(t)) => Some(Resolved::DateTime(d.and_time(t))),
            (Some(d), None) => Some(Resolved::Date(d)),
            (None, _) => None,
        }
    }
}

/// Verbs that put a bare weekday in the past: "I had an ultrasound on Monday", "Dr. Alvarez
/// pulled my tooth on Friday". Not "I was hoping to come Friday" or "I had to move it to Friday".
const PAST_VERBS: [&str; 15] = [
    "had", "was", "were", "did", "came", "got", "went", "saw", "pulled", "took", "gave", "called", "visited",
    "received", "sent",
];

fn said_in_the_past(words: &Words, i: usize) -> bool {
    words_before_in_sentence(words, i, 6).any(|j| {
        let next = words.at(j + 1);
        PAST_VERBS.contains(&words.at(j)) && next != "to" && !next.ends_with("ing")
    })
}

/// "any afternoon next week except Wednesday": a bare weekday after "next week" in the same
/// sentence is in next week.
fn after_next_week(words: &Words, i: usize) -> bool {
    words_before_in_sentence(words, i, 8).any(|j| words.phrase_at(j, "next week"))
}

/// The indexes of up to `count` words before `i`, nearest first, without crossing a sentence end.
fn words_before_in_sentence<'w>(words: &'w Words, i: usize, count: usize) -> impl Iterator<Item = usize> + 'w {
    (1..=count)
        .take_while(move |&back| back <= i && words.pause_after(i - back) != Pause::Stop)
        .map(move |back| i - back)
}

fn period_at(words: &Words, i: usize) -> Option<usize> {
    if let Some(period) = PERIODS.iter().find(|p| words.phrase_at(i, p)) {
        return Some(i + period.split(' ').count() - 1);
    }
    if words.at(i) != "in" {
        return None;
    }
    // "in January" (a month, no day).
    if month(words.at(i + 1)).is_some() && day_digits(words.at(i + 2)).is_none() {
        return Some(i + 1);
    }
    // "in two weeks", "in 3 days", "in a week", "in a couple of weeks".
    let mut j = i + 1;
    if words.at(j).parse::<u32>().is_ok() || small_number(words.at(j)).is_some() {
        j += 1;
    } else if words.at(j) == "a" {
        j += 1;
        while matches!(words.at(j), "couple" | "few" | "of") {
            j += 1;
        }
    } else {
        return None;
    }
    matches!(words.at(j), "day" | "days" | "week" | "weeks" | "month" | "months").then_some(j)
}

fn day_part_at(words: &Words, i: usize) -> Option<(DayPart, usize)> {
    let part = |w: &str| match w {
        "morning" => Some(DayPart::Morning),
        "afternoon" => Some(DayPart::Afternoon),
        "evening" | "night" => Some(DayPart::Evening),
        _ => None,
    };
    if words.at(i) == "in" && words.at(i + 1) == "the" {
        return part(words.at(i + 2)).map(|p| (p, i + 2));
    }
    part(words.at(i)).map(|p| (p, i))
}

fn clock(hour: u32, minute: u32, meridiem: Option<Meridiem>) -> Option<Clock> {
    let valid_hour = match meridiem {
        Some(_) => (1..=12).contains(&hour),
        None => hour <= 23,
    };
    (valid_hour && minute < 60).then_some(Clock { hour, minute, meridiem })
}

fn meridiem(word: &str) -> Option<Meridiem> {
    match word {
        "am" | "a.m" | "a.m." => Some(Meridiem::Am),
        "pm" | "p.m" | "p.m." => Some(Meridiem::Pm),
        _ => None,
    }
}

/// The clock time at word `at`: "3:30", "3:30pm", "3pm", "3 pm", "3 o'clock", "three thirty";
/// a bare "3" or "three" only after a trigger word.
fn clock_at(words: &Words, at: usize, triggered: bool) -> Option<(Clock, usize)> {
    let word = words.at(at);
    // Digits with an optional attached "am"/"pm" ("3:30pm"), or a number word ("three").
    let split = word
        .find(|c: char| !c.is_ascii_digit() && c != ':')
        .unwrap_or(word.len());
    let (number, suffix) = if split > 0 { word.split_at(split) } else { ("", "") };
    let attached = meridiem(suffix);
    if !suffix.is_empty() && attached.is_none() {
        return None;
    }
    let (hour, minute, written_minutes) = match number.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h.parse().ok()?, m.parse().ok()?, true),
        Some(_) => return None,
        None if !number.is_empty() => (number.parse().ok()?, 0, false),
        None => (small_number(word).filter(|h| *h >= 1)?, 0, false),
    };
    let mut last = at;
    let mut minute = minute;
    let mut spoken_minutes = false;
    if number.is_empty() {
        // "three thirty", "ten fifteen", "nine forty five".
        let minutes = match (words.at(at + 1), words.at(at + 2)) {
            ("fifteen", _) => Some((15, at + 1)),
            ("thirty", _) => Some((30, at + 1)),
            ("forty-five", _) => Some((45, at + 1)),
            ("forty", "five") => Some((45, at + 2)),
            _ => None,
        };
        if let Some((m, l)) = minutes {
            minute = m;
            last = l;
            spoken_minutes = true;
        }
    }
    let mut meridiem_found = attached;
    if meridiem_found.is_none() {
        if let Some(m) = meridiem(words.at(last + 1)) {
            meridiem_found = Some(m);
            last += 1;
        }
    }
    let oclock = matches!(words.at(last + 1), "o'clock" | "oclock") || words.phrase_at(last + 1, "o clock");
    if oclock {
        last += if words.at(last + 1) == "o" { 2 } else { 1 };
    }
    let said_as_time = written_minutes || spoken_minutes || meridiem_found.is_some() || oclock || triggered;
    if !said_as_time {
        return None;
    }
    // A bare trigger + number needs a plausible hour ("at 3", not "at 45").
    Some((clock(hour, minute, meridiem_found)?, last))
}

/// The clinic convention for a time said without a.m. or p.m.: 1 to 6 are in the afternoon,
/// 7 to 11 in the morning, 12 is noon (nobody books a dentist at 3 a.m.); "morning",
/// "afternoon", "evening" and "tonight" override it.
fn to_24h(clock: Clock, part: Option<DayPart>) -> Option<NaiveTime> {
    let hour = match (clock.meridiem, part) {
        (Some(Meridiem::Am), _) => clock.hour % 12,
        (Some(Meridiem::Pm), _) => clock.hour % 12 + 12,
        (None, _) if clock.hour > 12 || clock.hour == 0 => clock.hour,
        (None, Some(DayPart::Morning)) => clock.hour,
        (None, Some(DayPart::Afternoon | DayPart::Evening)) if clock.hour < 12 => clock.hour + 12,
        (None, _) if (1..=6).contains(&clock.hour) => clock.hour + 12,
        (None, _) => clock.hour,
    };
    NaiveTime::from_hms_opt(hour, clock.minute, 0)
}

/// The first `day` strictly after `from` (a weekday said alone, or with "next" or "this", is the
/// coming one: on a Wednesday, "next Tuesday" is in six days).
fn upcoming(from: NaiveDate, day: Weekday) -> NaiveDate {
    let ahead = (day.num_days_from_monday() + 7 - from.weekday().num_days_from_monday()) % 7;
    from + Duration::days(if ahead == 0 { 7 } else { ahead.into() })
}

/// The last `day` strictly before `from`.
fn previous(from: NaiveDate, day: Weekday) -> NaiveDate {
    let back = (from.weekday().num_days_from_monday() + 7 - day.num_days_from_monday()) % 7;
    from - Duration::days(if back == 0 { 7 } else { back.into() })
}

/// `day` in the week (Monday to Sunday) after the one `from` is in.
fn in_next_week(from: NaiveDate, day: Weekday) -> NaiveDate {
    let monday = from - Duration::days(from.weekday().num_days_from_monday().into()) + Duration::days(7);
    monday + Duration::days(day.num_days_from_monday().into())
}

/// "the 14th": the next 14th from `from`, today included.
fn next_day_of_month(from: NaiveDate, day: u32) -> Option<NaiveDate> {
    let mut first = from.with_day(1)?;
    for _ in 0..3 {
        if let Some(date) = first.with_day(day).filter(|d| *d >= from) {
            return Some(date);
        }
        first = first.checked_add_months(chrono::Months::new(1))?;
    }
    None
}

/// A month and day without a year: the first such date that is no more than three months past
/// ("my visit on November 3rd" looks back; "January 4th" said in December looks ahead).
fn month_day(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    let earliest = today - Duration::days(92);
    (today.year() - 1..=today.year() + 1)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|date| *date >= earliest)
}

// ----------------------------------------------------------------------------------------------
// Names

/// Words that are never part of a name after "this is", "it's", "my name is" (in a transcript
/// without capitals, the only way to tell "this is tom becker calling" from "this is about my bill").
const NOT_NAMES: &[&str] = &[
    "a",
    "about",
    "actually",
    "after",
    "again",
    "also",
    "am",
    "an",
    "and",
    "are",
    "as",
    "ask",
    "asking",
    "at",
    "back",
    "be",
    "because",
    "been",
    "but",
    "by",
    "call",
    "called",
    "calling",
    "calls",
    "can",
    "checking",
    "clinic",
    "come",
    "coming",
    "concerning",
    "could",
    "dental",
    "dentist",
    "did",
    "do",
    "doctor",
    "does",
    "done",
    "dr",
    "fine",
    "for",
    "from",
    "get",
    "go",
    "going",
    "gonna",
    "good",
    "got",
    "great",
    "had",
    "has",
    "have",
    "he",
    "hello",
    "her",
    "here",
    "hey",
    "hi",
    "his",
    "hoping",
    "how",
    "i",
    "i'm",
    "if",
    "im",
    "in",
    "is",
    "it",
    "it's",
    "its",
    "just",
    "kind",
    "know",
    "leave",
    "leaving",
    "let",
    "like",
    "looking",
    "make",
    "may",
    "me",
    "might",
    "miss",
    "mr",
    "mrs",
    "ms",
    "must",
    "my",
    "need",
    "needs",
    "new",
    "no",
    "not",
    "now",
    "of",
    "office",
    "ok",
    "okay",
    "on",
    "one",
    "or",
    "our",
    "patient",
    "please",
    "pretty",
    "quite",
    "re",
    "really",
    "regarding",
    "returning",
    "see",
    "she",
    "should",
    "since",
    "so",
    "sorry",
    "still",
    "supposed",
    "sure",
    "take",
    "tell",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "today",
    "tomorrow",
    "tonight",
    "trying",
    "uh",
    "um",
    "urgent",
    "very",
    "want",
    "wanted",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "wondering",
    "would",
    "yeah",
    "yes",
    "you",
    "your",
    "bye",
    "goodbye",
    "perfect",
    "sounds",
];

/// Titles that announce a name ("miss" is left out: "I'll miss work").
const TITLES: [&str; 5] = ["mr", "mrs", "ms", "mister", "missus"];

/// Family words after which a name often follows ("my son Liam", "his daughter, Ruth Grant").
const RELATIVES: [&str; 17] = [
    "son",
    "daughter",
    "husband",
    "wife",
    "mother",
    "mom",
    "father",
    "dad",
    "partner",
    "child",
    "kid",
    "boyfriend",
    "girlfriend",
    "brother",
    "sister",
    "grandson",
    "granddaughter",
];

struct Name {
    text: String,
    /// Introduced as the caller ("this is", "my name is").
    caller: bool,
}

fn names(words: &Words) -> Vec<Name> {
    let mut found: Vec<Name> = Vec::new();
    let mut add = |text: Option<String>, caller: bool| {
        if let Some(text) = text.filter(|t| t.chars().count() <= MAX_NAME_CHARS) {
            found.push(Name { text, caller });
        }
    };
    for i in 0..words.len() {
        if let Some(start) = self_introduction(words, i) {
            add(person_name(words, start), true);
        }
        if let Some(start) = other_person(words, i) {
            add(person_name(words, start), false);
        }
        if matches!(words.at(i), "dr" | "doctor") {
            add(doctor_name(words, i + 1), false);
        }
    }
    if words.cased {
        for name in speaker_introductions(words).into_iter().chain(name_sentences(words)) {
            add(Some(name), false);
        }
    }
    keep_longest(found)
}

/// Where the caller's own name starts: "my name is _", "this is _", "it's _", "I'm _",
/// "hi Jenny" style greetings aside.
fn self_introduction(words: &Words, i: usize) -> Option<usize> {
    let strong = ["my name is", "my name's", "this is", "it's", "its", "it is"];
    if let Some(phrase) = strong.iter().find(|p| words.phrase_at(i, p)) {
        return Some(i + phrase.split(' ').count());
    }
    // "I'm" and "I am" are followed by so much else ("I'm calling", "I am in pain") that only a
    // capitalised word after them is taken.
    let weak = ["i'm", "i am", "im"];
    let phrase = weak.iter().find(|p| words.phrase_at(i, p))?;
    words.cased.then_some(i + phrase.split(' ').count())
}

/// Where someone else's name starts: "my son _", "patient _", "appointment for _", "hi _".
fn other_person(words: &Words, i: usize) -> Option<usize> {
    if words.at(i) == "patient" {
        return Some(i + 1);
    }
    if words.phrase_at(i, "appointment for") {
        return Some(i + 2);
    }
    // A title says a name follows: "for mister paul gagnon", "Mrs. Eileen O'Brien".
    if TITLES.contains(&words.at(i)) {
        return Some(i);
    }
    if words.phrase_at(i, "under the name") {
        return Some(i + 3);
    }
    if !words.cased {
        return None; // "my son fell", "hi my": without capitals these guess wrong too often.
    }
    if matches!(words.at(i), "my" | "his" | "her" | "our") && RELATIVES.contains(&words.at(i + 1)) {
        return Some(i + 2);
    }
    let greeting = matches!(words.at(i), "hi" | "hello" | "hey") && words.pause_after(i) == Pause::None;
    greeting.then_some(i + 1)
}

fn is_name_word(words: &Words, i: usize) -> bool {
    let Some(word) = words.list.get(i) else { return false };
    let bare = word.lower.strip_suffix("'s").unwrap_or(&word.lower);
    let letters = bare.chars().all(|c| c.is_alphabetic() || c == '\'' || c == '-');
    let capitalised = word.raw.chars().next().is_some_and(char::is_uppercase);
    letters
        && bare.chars().count() >= 2
        && !word.speaker_label
        && !NOT_NAMES.contains(&bare)
        && weekday(bare).is_none()
        && (!words.cased || capitalised)
}

/// Up to three name words from `start` (titles skipped), stopping at punctuation or a
/// possessive. "it's Grace, Grace Thompson" takes the longer form.
fn person_name(words: &Words, start: usize) -> Option<String> {
    let mut start = start;
    // A pause right after the trigger ("my husband, Raj Patel") is fine.
    while TITLES.contains(&words.at(start)) || words.at(start) == "miss" {
        start += 1;
    }
    let mut parts: Vec<usize> = Vec::new();
    let mut i = start;
    while parts.len() < 3 && is_name_word(words, i) {
        parts.push(i);
        if words.at(i).ends_with("'s") || words.pause_after(i) != Pause::None {
            break;
        }
        i += 1;
    }
    let first = *parts.first()?;
    let last = *parts.last()?;
    // A self-correction repeats the first name and goes on: take what follows instead.
    if words.pause_after(last) == Pause::Comma && words.at(last + 1) == words.at(first) && is_name_word(words, last + 2)
    {
        return person_name(words, last + 1);
    }
    Some(
        parts
            .iter()
            .map(|&k| display_word(words, k))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// "Dr. Patel", "doctor ramirez", "Dr. Kim's office", "Dr. Fiona McLeod" → "Dr. Surname". A
/// second name word is taken only with capitals ("dr patel said" has none to tell).
fn doctor_name(words: &Words, at: usize) -> Option<String> {
    if !is_name_word(words, at) {
        return None;
    }
    let two_words = words.cased
        && words.pause_after(at) == Pause::None
        && !words.at(at).ends_with("'s")
        && is_name_word(words, at + 1);
    let surname = if two_words { at + 1 } else { at };
    Some(format!("Dr. {}", display_word(words, surname)))
}

/// The name word as written (capitalised when the transcript has no capitals), possessive off.
fn display_word(words: &Words, i: usize) -> String {
    let raw = words.list[i].raw;
    let raw = raw.strip_suffix("'s").or_else(|| raw.strip_suffix("’s")).unwrap_or(raw);
    if words.cased {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut capital = true;
    for c in raw.chars() {
        if capital {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        capital = c == '\'' || c == '-';
    }
    out
}

/// "Bright Smile Dental, Jenny speaking": the one or two name words just before "speaking".
fn speaker_introductions(words: &Words) -> Vec<String> {
    words
        .phrase_positions("speaking")
        .filter_map(|i| {
            let mut first = i;
            while first > 0
                && i - first < 2
                && is_name_word(words, first - 1)
                && words.pause_after(first - 1) == Pause::None
            {
                first -= 1;
            }
            (first < i).then(|| (first..i).map(|k| display_word(words, k)).collect::<Vec<_>>().join(" "))
        })
        .collect()
}

/// A sentence that is only a name of two or three words, as when a caller answers "your name?"
/// or signs off a voicemail: "Caller: Ben Carter." "... Please call 819 555 0183. Steve Kowalski."
fn name_sentences(words: &Words) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..words.len() {
        if words.pause_after(i) != Pause::Stop {
            continue;
        }
        let sentence: Vec<usize> = (start..=i).filter(|&k| !words.list[k].speaker_label).collect();
        start = i + 1;
        let clean = sentence
            .iter()
            .all(|&k| is_name_word(words, k) && (k == i || words.pause_after(k) == Pause::None));
        if (2..=3).contains(&sentence.len()) && clean {
            out.push(
                sentence
                    .iter()
                    .map(|&k| display_word(words, k))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
    }
    out
}

/// Without repeats, and without a first name when the full name was also found ("Maria" and
/// "Maria Lopez").
fn keep_longest(found: Vec<Name>) -> Vec<Name> {
    let mut kept: Vec<Name> = Vec::new();
    for name in found {
        let lower = name.text.to_lowercase();
        let covered = kept.iter().any(|k| {
            let k = k.text.to_lowercase();
            k == lower || k.starts_with(&format!("{lower} "))
        });
        if covered {
            continue;
        }
        // A longer form replaces a shorter one found before, keeping its place and role.
        if let Some(shorter) = kept
            .iter_mut()
            .find(|k| lower.starts_with(&format!("{} ", k.text.to_lowercase())))
        {
            shorter.text = name.text;
            shorter.caller |= name.caller;
            continue;
        }
        kept.push(name);
    }
    kept
}

// ----------------------------------------------------------------------------------------------
// Request, urgency, callback

/// Cues of an emergency, checked for negation ("no pain", "it's not an emergency").
const EMERGENCY_CUES: &[&str] = &[
    "pain",
    "painful",
    "hurts",
    "hurt",
    "hurting",
    "toothache",
    "tooth ache",
    "aching",
    "swollen",
    "swelling",
    "bleeding",
    "knocked out",
    "trouble breathing",
    "difficulty breathing",
    "can't breathe",
    "cant breathe",
    "short of breath",
    "stiff neck",
    "chest pain",
    "allergic reaction",
    "abscess",
    "unconscious",
    "fainted",
    "passed out",
    "seizure",
    "unbearable",
    "killing me",
    "throbbing",
    "infection",
    "infected",
    "puffy",
    "puff up",
    "puffed up",
    "swell",
    "swelled",
    "emergency",
];

/// Damage that is an emergency when it is to a tooth or the jaw (a car can break down too).
const DAMAGE: [&str; 5] = ["broke", "broken", "cracked", "loose", "knocked"];
const MOUTH: [&str; 4] = ["tooth", "teeth", "jaw", "crown"];

const RESCHEDULE_CUES: &[&str] = &[
    "reschedule",
    "rescheduling",
    "rebook",
    "move it",
    "move my",
    "move the",
    "change it",
    "change my appointment",
    "change the appointment",
    "push it",
    "push my",
    "push back",
    "different day",
    "different time",
    "another day",
    "another time",
];
const CANCEL_CUES: &[&str] = &[
    "cancel",
    "cancelling",
    "canceling",
    "cancellation",
    "can't make it",
    "cant make it",
    "won't be able to make it",
    "won't be coming",
    "wont be coming",
    "can't come in",
    "cant come in",
    "won't be able to come",
];

/// A cancellation that asks for another slot is a reschedule ("I can't come in Thursday, do you
/// have anything the week after?").
const NEW_SLOT_CUES: &[&str] = &[
    "do you have anything",
    "have anything",
    "instead",
    "any openings",
    "another slot",
];
const PRESCRIPTION_CUES: &[&str] = &[
    "prescription",
    "prescriptions",
    "prescribed",
    "refill",
    "refills",
    "renew",
    "renewed",
    "renewal",
    "pharmacy",
    "pharmacist",
    "medication",
    "medications",
    "meds",
    "pills",
    "dosage",
    "antibiotic",
    "antibiotics",
];
const BILLING_CUES: &[&str] = &[
    "bill",
    "bills",
    "billing",
    "billed",
    "statement",
    "invoice",
    "charged",
    "charge",
    "charges",
    "payment",
    "pay",
    "paid",
    "balance",
    "owe",
    "owed",
    "refund",
    "receipt",
    "receipts",
    "collections",
    "credit card",
    "cost",
    "price",
    "fee",
    "fees",
];
const INSURANCE_CUES: &[&str] = &[
    "insurance",
    "insurer",
    "insured",
    "coverage",
    "cover",
    "covers",
    "covered",
    "claim",
    "claims",
    "predetermination",
    "preauthorization",
    "pre-authorization",
    "policy",
    "benefits",
    "blue cross",
    "sun life",
    "manulife",
    "delta dental",
    "green shield",
    "canada life",
    "medicaid",
    "medicare",
    "ramq",
    "member id",
];
const APPOINTMENT_CUES: &[&str] = &[
    "appointment",
    "book",
    "booking",
    "booked",
    "schedule",
    "cleaning",
    "checkup",
    "check-up",
    "check up",
    "exam",
    "consultation",
    "consult",
    "come in",
    "see the doctor",
    "see a doctor",
    "see dr",
    "see the dentist",
    "new patient",
    "dentist",
    "physical",
    "follow-up",
    "follow up",
    "available",
    "availability",
    "opening",
    "spot",
    "fixed",
    "confirm",
];

/// How many times the cues are said. Topics count negated cues too ("I can't pay it all" is
/// still about a bill).
fn cue_count(words: &Words, cues: &[&str]) -> usize {
    cues.iter().map(|cue| words.phrase_positions(cue).count()).sum()
}

/// Whether a cue is said and not negated ("no pain", "not urgent").
fn affirmed(words: &Words, cues: &[&str]) -> bool {
    cues.iter()
        .any(|cue| words.phrase_positions(cue).any(|i| !words.negated(i)))
}

fn mouth_damage(words: &Words) -> bool {
    (0..words.len()).any(|i| {
        DAMAGE.contains(&words.at(i))
            && !words.negated(i)
            && (i.saturating_sub(3)..=i + 3).any(|j| MOUTH.contains(&words.at(j)))
    })
}

fn is_emergency(words: &Words) -> bool {
    affirmed(words, EMERGENCY_CUES) || mouth_damage(words)
}

/// The caller's main reason, in order of what matters most: a wrong number is nothing; an
/// emergency beats everything; moving or cancelling a visit beats booking one (those calls say
/// "appointment" too); then the topic with the most cues.
fn request(words: &Words) -> Request {
    if words.has_phrase("wrong number") {
        return Request::Other;
    }
    if is_emergency(words) {
        return Request::Emergency;
    }
    let cancels = cue_count(words, CANCEL_CUES) > 0;
    // "We'll call back to reschedule", "I'll call to rebook": moving it later is the caller's
    // job, so this call cancels.
    let moves_now = RESCHEDULE_CUES
        .iter()
        .any(|cue| words.phrase_positions(cue).any(|i| !callers_own_call(words, i)));
    if moves_now || (cancels && cue_count(words, NEW_SLOT_CUES) > 0) {
        return Request::Reschedule;
    }
    if cancels || cue_count(words, RESCHEDULE_CUES) > 0 {
        return Request::Cancellation;
    }
    // Ties go to the first: a prescription or bill mentions the visit it came from.
    let topics = [
        (Request::Prescription, cue_count(words, PRESCRIPTION_CUES)),
        (Request::Billing, cue_count(words, BILLING_CUES)),
        (Request::Insurance, cue_count(words, INSURANCE_CUES)),
        (Request::Appointment, cue_count(words, APPOINTMENT_CUES)),
    ];
    let best = topics.iter().fold(
        (Request::Other, 0),
        |best, &(r, n)| if n > best.1 { (r, n) } else { best },
    );
    best.0
}

const HIGH_CUES: &[&str] = &[
    "urgent",
    "urgently",
    "asap",
    "as soon as possible",
    "right away",
    "immediately",
    "run out",
    "ran out",
    "running out",
    "pills left",
    "out of my",
    "lost a filling",
    "lost my filling",
    "filling fell out",
    "lost a crown",
    "crown fell off",
    "crown came off",
    "chipped",
];

/// Emergency for emergencies; high when the caller says it is urgent, is running out of
/// medication, or has damage that does not hurt; low when nothing needs doing soon (wrong
/// numbers, questions nobody asked to be called back about, confirmations, bills and insurance);
/// normal otherwise.
fn urgency(words: &Words, request: Request, callback: bool) -> Urgency {
    if request == Request::Emergency {
        return Urgency::Emergency;
    }
    if affirmed(words, HIGH_CUES) {
        return Urgency::High;
    }
    let confirming = request == Request::Appointment && words.has_any(&["confirm", "confirming"]);
    match request {
        Request::Billing | Request::Insurance => Urgency::Low,
        Request::Other if !callback => Urgency::Low,
        _ if confirming => Urgency::Low,
        _ => Urgency::Normal,
    }
}

const CALLBACK_CUES: &[&str] = &[
    "call me",
    "call us",
    "call back",
    "give me a call",
    "give me a ring",
    "reach me",
    "get back to me",
    "return my call",
    "my number is",
    "my number",
    "my cell",
    "my phone number",
    "contact me",
    "text me",
];

/// Saying no call is needed. Specific phrases rather than any negation nearby: "no rush, just
/// call me" is still a request.
const CALLBACK_DECLINED: &[&str] = &[
    "no need to call",
    "no need for a call",
    "don't need to call",
    "dont need to call",
    "don't have to call",
    "dont have to call",
    "not necessary to call",
];

/// "I'll call back", "we'll call back to reschedule": the caller will call, nobody is asked to.
fn callers_own_call(words: &Words, i: usize) -> bool {
    (1..=4).any(|back| matches!(words.before(i, back), "i'll" | "we'll" | "ill" | "will"))
}

/// Asked to be called back: said so ("call me back", "you can reach me at", "my number is"), or
/// left a number on a voicemail (a call without speaker labels) that is not a fax number; unless
/// they said there is no need.
fn callback_requested(words: &Words, phones: &[Found<PhoneNumber>]) -> bool {
    let declined = words.has_any(CALLBACK_DECLINED);
    let inside_decline = |i: usize| {
        CALLBACK_DECLINED
            .iter()
            .any(|phrase| (1..=4).any(|back| i >= back && words.phrase_at(i - back, phrase)))
    };
    let mut said = CALLBACK_CUES.iter().any(|cue| {
        words
            .phrase_positions(cue)
            .any(|i| !inside_decline(i) && !callers_own_call(words, i))
    });
    // "Please call 819 555 0183": "call" right before a number.
    said |= phones
        .iter()
        .any(|p| (1..=2).any(|back| words.before(p.first, back) == "call"));
    let left_a_number = !words.has_speaker_labels()
        && phones
            .iter()
            .any(|p| !(1..=3).any(|back| words.before(p.first, back) == "fax"));
    said || (left_a_number && !declined)
}

// ----------------------------------------------------------------------------------------------
// Summary and follow-up actions

/// What the summary and the actions are written from.
struct Call {
    request: Request,
    urgency: Urgency,
    callback_requested: bool,
    caller: Option<String>,
    phone: Option<String>,
    first_time: Option<String>,
    wrong_number: bool,
    confirming: bool,
    visit: Option<&'static str>,
}

/// The kind of visit asked for, to write "Book a cleaning" rather than "Book an appointment".
fn visit_kind(words: &Words) -> Option<&'static str> {
    const KINDS: [(&str, &str); 8] = [
        ("cleaning", "a cleaning"),
        ("checkup", "a checkup"),
        ("check-up", "a checkup"),
        ("exam", "an exam"),
        ("consultation", "a consultation"),
        ("physical", "a physical"),
        ("follow-up", "a follow-up"),
        ("filling", "a filling"),
    ];
    KINDS
        .iter()
        .find(|(cue, _)| words.has_phrase(cue))
        .map(|(_, kind)| *kind)
}

fn summary(call: &Call) -> String {
    let who = call.caller.clone().unwrap_or_else(|| "The caller".into());
    let when = call
        .first_time
        .as_ref()
        .filter(|_| {
            matches!(
                call.request,
                Request::Appointment | Request::Reschedule | Request::Cancellation
            )
        })
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    let what = match call.request {
        Request::Appointment if call.confirming => format!("confirmed an appointment{when}"),
        Request::Appointment => format!("asked to book {}{when}", call.visit.unwrap_or("an appointment")),
        Request::Reschedule => format!("asked to reschedule an appointment{when}"),
        Request::Cancellation => format!("asked to cancel an appointment{when}"),
        Request::Emergency => "reported an emergency".into(),
        Request::Billing => "called about a bill".into(),
        Request::Insurance => "called about insurance".into(),
        Request::Prescription => "called about a prescription".into(),
        Request::Other if call.wrong_number => "dialled a wrong number".into(),
        Request::Other => "called with a question".into(),
    };
    let urgent = if call.urgency == Urgency::High {
        " It is urgent."
    } else {
        ""
    };
    let back = match (call.callback_requested, &call.phone) {
        (true, Some(phone)) => format!(" Asked to be called back at {phone}."),
        (true, None) => " Asked to be called back.".into(),
        (false, _) => String::new(),
    };
    let text = format!("{who} {what}.{urgent}{back}");
    text.chars().take(MAX_SUMMARY_CHARS).collect()
}

fn follow_up_actions(call: &Call) -> Vec<String> {
    let mut actions = Vec::new();
    let who = call.caller.as_deref().unwrap_or("the caller");
    if call.request == Request::Emergency {
        actions.push("Triage now and offer the earliest emergency visit".to_string());
    }
    if call.callback_requested {
        actions.push(match &call.phone {
            Some(phone) => format!("Call back {who} at {phone}"),
            None => format!("Call back {who}"),
        });
    }
    let task = match call.request {
        Request::Appointment if call.confirming => Some("Mark the appointment as confirmed".to_string()),
        Request::Appointment => Some(format!("Book {}", call.visit.unwrap_or("an appointment"))),
        Request::Reschedule => Some("Reschedule the appointment".into()),
        Request::Cancellation => Some("Cancel the appointment and offer the slot".into()),
        Request::Prescription => Some("Pass the prescription request to the doctor".into()),
        Request::Billing => Some("Review the account and answer the billing question".into()),
        Request::Insurance => Some("Answer the insurance question".into()),
        Request::Emergency | Request::Other => None,
    };
    actions.extend(task);
    actions
        .into_iter()
        .map(|a| a.chars().take(MAX_ACTION_CHARS).collect())
        .take(MAX_FOLLOW_UP_ACTIONS)
        .collect()
}
