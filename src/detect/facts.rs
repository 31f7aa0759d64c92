//! What the rules ask of a query's text — its classification, the kinds of secret in it, a
//! few words it mentions — answered for each event by one lookup in one per-thread memo.
//!
//! Logs repeat the same statements, exactly or with other numbers in them (`WHERE id =
//! 4283465`). A text seen before is answered by its exact copy; any other by its
//! number-blind key ([`sql::number_blind`]). An answer made for a key serves every text with
//! that key only where no answer depends on the numbers ([`shareable`]); the other texts are
//! remembered exactly. Either way, one answer serves every rule of the event.

use std::cell::{OnceCell, RefCell};
use std::hash::BuildHasher;
use std::rc::Rc;

use crate::detect::mentions;
use crate::detect::rules::recon;
use crate::event::TextHint;
use crate::memo::{self, Bounded, FastSet};
use crate::redact;
use crate::sql::{self, QueryClass};

/// The answers about one text, each computed on first use. Facts the memo shares are
/// computed in full before they are shared ([`TextFacts::complete`]), so no answer of a
/// shared entry is ever computed from another text than the one it was made for.
#[derive(Debug, Default)]
pub(crate) struct TextFacts {
    class: OnceCell<QueryClass>,
    secrets: OnceCell<Vec<&'static str>>,
    fingerprint: OnceCell<bool>,
    function: OnceCell<bool>,
    file: OnceCell<bool>,
}

impl TextFacts {
    /// Every answer for `text`, computed now.
    fn complete(text: &str) -> Self {
        let facts = Self::default();
        facts.class(text);
        facts.secret_kinds(text);
        facts.fingerprint(text);
        facts.mentions_function(text);
        facts.mentions_file(text);
        facts
    }

    /// [`sql::classify`] of the text.
    pub(crate) fn class(&self, text: &str) -> &QueryClass {
        self.class.get_or_init(|| sql::classify(text))
    }

    /// [`redact::secret_kinds`] of the text.
    pub(crate) fn secret_kinds(&self, text: &str) -> &[&'static str] {
        self.secrets.get_or_init(|| redact::secret_kinds(text))
    }

    /// Whether the text calls a function that fingerprints the server ([`recon`]).
    pub(crate) fn fingerprint(&self, text: &str) -> bool {
        *self.fingerprint.get_or_init(|| recon::fingerprints(text))
    }

    /// Whether the text spells `function` (any ASCII case).
    pub(crate) fn mentions_function(&self, text: &str) -> bool {
        *self.function.get_or_init(|| mentions(text, b"function"))
    }

    /// Whether the text spells `file` (any ASCII case).
    pub(crate) fn mentions_file(&self, text: &str) -> bool {
        *self.file.get_or_init(|| mentions(text, b"file"))
    }

    /// Every answer, for comparing two facts in tests.
    #[cfg(test)]
    fn all(&self, text: &str) -> (QueryClass, Vec<&'static str>, [bool; 3]) {
        (
            self.class(text).clone(),
            self.secret_kinds(text).to_vec(),
            [
                self.fingerprint(text),
                self.mentions_function(text),
                self.mentions_file(text),
            ],
        )
    }
}

/// Whether the facts of `key` (a number-blind text) are the facts of every text with that
/// key. The classification must not have copied a word the blinding rewrote
/// ([`sql::blind_safe`]), and the secret scanner must not have met anything whose answer
/// turns on the length of a digit run ([`redact::digit_blind_safe`]). The words
/// [`TextFacts`] looks for hold no digit, and blinding only rewrites digits into digits, so
/// a text with the key spells them exactly where the key does.
fn shareable(key: &str, facts: &TextFacts) -> bool {
    sql::blind_safe(facts.class(key)) && redact::digit_blind_safe(key)
}

/// The per-thread memo.
#[derive(Default)]
struct Memo {
    /// Exact text → its facts: the texts whose facts depend on their numbers, and those
    /// seen more than once (see [`Sightings`]).
    exact: Bounded<str, Rc<TextFacts>>,
    /// Number-blind key → the facts every text with that key shares, or `None` where they
    /// depend on the numbers (the texts are then in `exact`).
    shape: Bounded<[u8], Option<Rc<TextFacts>>>,
    /// Texts met on the way to `shape`, so a second sighting goes to `exact`.
    seen: Sightings,
    /// The key being looked up (reused, so a lookup allocates nothing).
    key: Vec<u8>,
    /// Facts by text identity ([`TextHint`]), direct-mapped by the id's low bits
    /// ([`ID_SLOTS`]): the id, the text's length (a check against a hint kept past a change
    /// of text) and the facts.
    ids: Vec<(u64, usize, Rc<TextFacts>)>,
}

/// Entries of [`Memo::ids`] (a power of two). Ids are drawn in sequence as the access-log
/// reader's 2,048 request slots are refilled, so consecutive ids take different entries.
const ID_SLOTS: usize = 4096;

/// Hashes of texts looked up through their number-blind key, at most
/// `4 * memo::ENTRIES` of them (emptied when full).
///
/// Most events repeat a text exactly (a dashboard, a loader): `exact` answers those with one
/// hash of the text, where the key costs a pass that blinds its numbers first. Only texts
/// seen before are copied there, so one-off texts (a new id each time) do not crowd it; a
/// hash that collides only copies a text early.
#[derive(Default)]
struct Sightings(FastSet<u64>);

impl Sightings {
    /// Notes `text`; true if it was noted before.
    fn again(&mut self, text: &str) -> bool {
        if self.0.len() >= 4 * memo::ENTRIES {
            self.0.clear();
        }
        let hash = self.0.hasher().hash_one(text);
        !self.0.insert(hash)
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// The facts of `text`: shared with the memo (a hit copies nothing), or, for texts longer
/// than [`memo::MAX_TEXT`], computed as they are asked for.
#[cfg(test)]
pub(crate) fn facts(text: &str) -> Rc<TextFacts> {
    facts_of(text, TextHint::NONE)
}

/// [`facts`], where `hint` may say the text is one met before: then the answer is the one
/// given for its id, without hashing or comparing the text.
pub(crate) fn facts_of(text: &str, hint: TextHint) -> Rc<TextFacts> {
    MEMO.with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return Rc::default();
        };
        match hint.id() {
            Some(id) => memo.by_id(text, id),
            None if text.len() > memo::MAX_TEXT => Rc::default(),
            None => memo.by_text(text, true),
        }
    })
}

impl Memo {
    /// The facts of `text`, whose identity is `id`.
    fn by_id(&mut self, text: &str, id: u64) -> Rc<TextFacts> {
        if self.ids.is_empty() {
            self.ids
                .resize_with(ID_SLOTS, || (u64::MAX, 0, Rc::default()));
        }
        let at = (id as usize) & (ID_SLOTS - 1);
        if let Some((i, len, facts)) = self.ids.get(at) {
            if *i == id && *len == text.len() {
                return Rc::clone(facts);
            }
        }
        // Every event with this id has this text: even a long text's lazily computed
        // answers serve them all.
        let facts = if text.len() > memo::MAX_TEXT {
            Rc::default()
        } else {
            self.by_text(text, false)
        };
        if let Some(slot) = self.ids.get_mut(at) {
            *slot = (id, text.len(), Rc::clone(&facts));
        }
        facts
    }

    /// The facts of `text` (at most [`memo::MAX_TEXT`] bytes). `exact_first`: look the text
    /// up exactly before its number-blind key, and note the texts met through the key (their
    /// next sighting is answered exactly). A text with an identity is met again through it,
    /// so it goes to its key at once and is not noted.
    fn by_text(&mut self, text: &str, exact_first: bool) -> Rc<TextFacts> {
        let Memo {
            exact,
            shape,
            seen,
            key,
            ..
        } = self;
        if exact_first {
            if let Some(hit) = exact.get(text) {
                return hit;
            }
        }
        if sql::number_blind(text, key) {
            let shared = match shape.get(key.as_slice()) {
                Some(shared) => shared,
                None => {
                    // The first text with this key: answer for the key itself, which is one
                    // of the texts it stands for.
                    let shared = std::str::from_utf8(key)
                        .ok()
                        .map(|k| (k, TextFacts::complete(k)))
                        .filter(|(k, f)| shareable(k, f))
                        .map(|(_, f)| Rc::new(f));
                    shape.remember(key, &shared);
                    shared
                }
            };
            if let Some(shared) = shared {
                if exact_first && seen.again(text) {
                    exact.remember(text, &shared);
                }
                return shared;
            }
        }
        if !exact_first {
            if let Some(hit) = exact.get(text) {
                return hit;
            }
        }
        let facts = Rc::new(TextFacts::complete(text));
        exact.remember(text, &facts);
        facts
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn clear() {
        MEMO.with(|m| *m.borrow_mut() = Memo::default());
    }

    fn sizes() -> (usize, usize) {
        MEMO.with(|m| {
            let m = m.borrow();
            (m.shape.len(), m.exact.len())
        })
    }

    #[test]
    fn ok_texts_differing_in_numbers_share_one_entry() {
        clear();
        let a = "SELECT a FROM t WHERE id = 1 LIMIT 5";
        let b = "SELECT a FROM t WHERE id = 99999 LIMIT 100";
        assert_eq!(facts(a).all(a), TextFacts::complete(a).all(a));
        assert!(Rc::ptr_eq(&facts(a), &facts(b)));
        // `a`, seen twice, is now also remembered exactly (the same facts).
        assert_eq!(sizes(), (1, 1));
        assert!(Rc::ptr_eq(&facts(a), &facts(b)));
        assert_eq!(sizes(), (1, 2));
        // A table copied from a word that starts with a digit is never shared…
        let (c, d) = ("SELECT a FROM db . 5x", "SELECT a FROM db . 6x");
        assert_eq!(facts(c).class(c).tables, ["db.5x"]);
        assert_eq!(facts(d).class(d).tables, ["db.6x"]);
        // … nor a key shape, whose length the numbers decide.
        let (e, f) = (
            "SELECT 'x' FROM t WHERE k = sk-1",
            "SELECT 'x' FROM t WHERE k = sk-1234567890123456",
        );
        assert!(facts(e).secret_kinds(e).is_empty());
        assert_eq!(facts(f).secret_kinds(f), ["API key (sk-…)"]);
        assert_eq!(sizes(), (3, 6));
        // Long texts are answered every time, and lazily.
        let long = format!(
            "SELECT * FROM t WHERE id IN ({})",
            "1,".repeat(memo::MAX_TEXT)
        );
        let lazy = facts(&long);
        assert!(lazy.class.get().is_none());
        assert_eq!(lazy.class(&long).tables, ["t"]);
        assert_eq!(sizes(), (3, 6));
        // Still right once the maps have been emptied.
        for n in 0..memo::ENTRIES + 10 {
            let t = format!("SELECT {n} FROM t{n} WHERE password={n}");
            assert_eq!(facts(&t).all(&t), TextFacts::complete(&t).all(&t));
        }
    }

    /// A number long enough to push what follows out of the IDENTIFIED window.
    const LONG_NUMBER: &str = " 12345678901234567890123456789012345678901234567890\
        123456789012345678901234567890123456789012345678901234567890 ";

    /// Text made of what the classifier, the secret scanner and the recon words look for,
    /// with numbers in every place a number can stand.
    fn textish() -> impl Strategy<Value = String> {
        let piece = proptest::sample::select(vec![
            "SELECT",
            "select ",
            " ",
            "\t",
            "\u{a0}",
            "0",
            "42",
            "7",
            "1e5",
            ".5",
            "-",
            "--",
            "#",
            "/*",
            "*/",
            "'",
            "`",
            "\"",
            "\\",
            "(",
            ")",
            ",",
            ".",
            "_",
            "$",
            "a",
            "é",
            "db",
            "t",
            "FROM",
            "JOIN",
            "WHERE",
            "=",
            ":",
            "LIMIT",
            "FORMAT",
            "remote",
            "s3",
            "url",
            "file",
            "INSERT",
            "INTO",
            "FUNCTION",
            "OUTFILE",
            "'1.2.3.4:9000'",
            "'http://10.0.0.1/x'",
            "FROM 42",
            " FROM db . ",
            "FORMAT 5",
            "remote(7",
            "(SELECT 3)",
            "JOIN 8x ",
            "version()",
            "hostName()",
            "password",
            "pwd",
            "token",
            "secret_key",
            " = '",
            "IDENTIFIED",
            " BY ",
            "identified",
            "sk-",
            "ghp_",
            "xoxb-",
            "AKIA",
            "ASIA",
            "ABCDEFGHIJ",
            "abcdefghij",
            "://",
            "u:p@",
            "@",
            "/",
            "&",
            ";",
            // Numbers whose length decides a key shape or the IDENTIFIED window.
            "sk-1234567890abcdef",
            " by '",
            LONG_NUMBER,
        ]);
        proptest::collection::vec(piece, 0..30).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        /// Whatever text filled the memo, a lookup answers what computing would.
        #[test]
        fn ok_memo_answers_like_computing(t in textish()) {
            let texts = [
                t.clone(),
                memo::other_numbers(&t),
                memo::other_digits(&t),
                memo::other_numbers(&memo::other_numbers(&t)),
            ];
            clear();
            // Thrice: through the key, noted, then from the exact texts.
            for text in texts.iter().chain(&texts).chain(&texts) {
                prop_assert_eq!(
                    facts(text).all(text),
                    TextFacts::complete(text).all(text),
                    "{:?} after {:?}",
                    text,
                    t
                );
            }
        }

        /// Looked up by identity, every text is answered what computing would, with the
        /// ids of several texts sharing one entry of the table, and among texts looked up
        /// by their bytes.
        #[test]
        fn ok_memo_by_identity_answers_like_computing(t in textish(), base in 0..u64::MAX / 2) {
            let texts = [
                t.clone(),
                memo::other_numbers(&t),
                memo::other_digits(&t),
                format!("{t} FROM system.tables"),
            ];
            clear();
            let step = ID_SLOTS as u64;
            let hints: Vec<TextHint> = (0..texts.len() as u64)
                .map(|k| TextHint::with_id(base + k * step))
                .collect();
            for round in 0..3 {
                for (text, hint) in texts.iter().zip(&hints) {
                    let hint = if round == 1 { TextHint::NONE } else { *hint };
                    prop_assert_eq!(
                        facts_of(text, hint).all(text),
                        TextFacts::complete(text).all(text),
                        "{:?} after {:?}",
                        text,
                        t
                    );
                }
            }
        }
    }
}
