//! One XML document on several threads, with exactly the findings of the serial path.
//!
//! A splitter thread inflates the input through the [`Guard`] and cuts it into users'
//! raw XML ([`UserSplitter`]); workers scan each user's bytes for well-formedness, parse
//! and check them ([`UserParser`], record validation, the profile: everything that needs no
//! feed state); this thread takes their results in document order, runs the feed checks and
//! emits. Batches go to the workers in turn and come back in the same turn, so the order
//! never depends on timing.
//!
//! The well-formedness scan is split along the users: the splitter scans what lies between
//! them (prolog, blanks, comments, epilog) and steps over each user, whose bytes a worker
//! scans from a copy of the splitter's scanner taken at a user's start. Inside the root
//! element, between its children, a child's scan depends only on the elements open and
//! the namespaces in scope, and a child scanned whole without a violation leaves them as
//! they were; so when no part finds a violation, neither does the scan of the whole.
//!
//! A worker first tries the clean-user path ([`read_clean`]): one pass over a user that
//! either proves it is read with no finding (and so is well-formed for Java in this scope)
//! and builds it, or gives up; only then does it scan and parse the user. Built with debug
//! assertions, it always scans and parses as well and requires the two to agree. Its strings
//! and lists come from the worker's [`Spare`], which every user is given back to once
//! checked: a worker allocates next to nothing per user.
//!
//! [`read_clean`]: alma_user_model::read::read_clean
//!
//! The serial path stays the reference. Where the fast reader cannot vouch for a document
//! (see [`Split::Unsupported`]), where the scan finds a violation (Java stops there; the
//! serial path reports it where it is and stops reading), or the guard finds so many
//! byte-level problems that the serial path would drop some (which depends on how far
//! ahead it read), the document is read again serially, and the steps already taken here
//! are only replayed there.

use std::cell::RefCell;
use std::io::{BufReader, Read};
use std::ops::Range;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use alma_user_model::read::{
    READ_SIZE, RawUser, Spare, Split, UserParser, UserSplitter, read_clean_reusing,
};
use alma_user_model::{Finding, Position, ReadUser, SegmentAt};

use super::guard::{Guard, GuardEvent, GuardLimits, GuardLog, MAX_CARRY, MAX_EVENTS};
use super::xmlscan::XmlScanner;
use super::{CheckOptions, Checker, FeedUser, blanked_fields, record_checks};

/// Raw XML per batch handed to a worker.
const BATCH_BYTES: usize = 256 * 1024;
/// How far past a user the serial reader may have read when it takes that user's guard
/// events (one read of the reader's, and the guard's carry): a batch is released only when
/// the splitter has read that far, so that its event count covers everything the serial
/// path had seen.
const READ_AHEAD: u64 = (READ_SIZE + MAX_CARRY) as u64;
/// Batches waiting per worker, each way.
const QUEUE: usize = 6;
/// Things kept on each of the pool's shelves, at most (about as many batches as can be in
/// flight with four workers).
const POOLED_BUFFERS: usize = 4 * (QUEUE + 1);

/// What the fast path's threads give back once done with it, for the next batch and the
/// next document: the raw batches' buffers, the checked batches' lists, the workers'
/// spares. A zip holds dozens of documents; building them anew for each cost a few
/// megabytes of fresh pages a document (a 12-entry zip took 15,000 page faults more than
/// one entry holding the same documents) and a cold spare on each worker.
#[derive(Default)]
pub(super) struct Pool {
    xml: Shelf<String>,
    checked: Shelf<CheckedBatch>,
    kits: Shelf<Kit>,
}

/// Things put aside by one thread for another.
struct Shelf<T>(Mutex<Vec<T>>);

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf(Mutex::new(Vec::new()))
    }
}

impl<T> Shelf<T> {
    fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Keeps `item` (made ready for reuse by `clear`) unless there are enough already.
    fn put(&self, mut item: T, clear: impl FnOnce(&mut T)) {
        let mut shelf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if shelf.len() < POOLED_BUFFERS {
            clear(&mut item);
            shelf.push(item);
        }
    }
}

/// A worker's reusable parts.
struct Kit {
    parser: UserParser,
    scanner: XmlScanner,
    spare: Spare,
}

impl Kit {
    fn new() -> Self {
        Kit {
            parser: UserParser::new(),
            scanner: XmlScanner::new(alma_user_model::schema::is_container, 0),
            spare: Spare::default(),
        }
    }
}

impl Pool {
    /// An empty buffer for a raw batch.
    fn xml(&self) -> String {
        self.xml
            .take()
            .unwrap_or_else(|| String::with_capacity(2 * BATCH_BYTES))
    }

    fn give_xml(&self, xml: String) {
        self.xml.put(xml, String::clear);
    }

    /// Empty lists for a checked batch of `users` users.
    fn checked(&self, users: usize) -> CheckedBatch {
        let mut batch = self.checked.take().unwrap_or_default();
        // Room for what a batch of users holds (ids and identifiers, a few a user), so
        // that the lists are not grown push by push.
        batch.users.reserve(users);
        batch.text.reserve(users * 64);
        batch.ids.reserve(users * 4);
        batch.keys.reserve(users * 5);
        batch.segments.reserve(users * 8);
        batch
    }

    fn give_checked(&self, batch: CheckedBatch) {
        self.checked.put(batch, |batch| {
            batch.file_events = None;
            batch.users.clear();
            batch.text.clear();
            batch.ids.clear();
            batch.keys.clear();
            batch.segments.clear();
        });
    }

    fn kit(&self) -> Kit {
        self.kits.take().unwrap_or_else(Kit::new)
    }

    fn give_kit(&self, kit: Kit) {
        self.kits.put(kit, |_| {});
    }
}

/// Users cut out by the splitter, each with the guard events from its start to the next
/// user's start (the events the serial path gives it).
#[derive(Default)]
struct RawBatch {
    /// Events before the first user (the first batch only).
    file_events: Option<Vec<GuardEvent>>,
    xml: String,
    users: Vec<(RawUser, Vec<GuardEvent>)>,
    /// The splitter's scanner at a user's start, the same at every user's.
    scope: Option<Arc<XmlScanner>>,
}

/// The document's end: its findings and the bytes read over the whole check.
struct End {
    /// Events when the document has no user.
    file_events: Option<Vec<GuardEvent>>,
    document: Vec<Finding>,
    total_read: u64,
}

/// What the splitter sends, in order.
enum Cut {
    Users(RawBatch),
    End(End),
    /// The serial path must read the document.
    Fallback,
}

/// One user as a worker checked it: everything but the feed checks.
struct CheckedUser {
    position: Position,
    events: Vec<GuardEvent>,
    /// The reader's findings and `W-BLANKS-FIELD`.
    reader: Vec<Finding>,
    /// Record validation's findings.
    validation: Vec<Finding>,
    /// The profile's, preferred segments', swap-all's.
    rest: Vec<Finding>,
    primary_id: Range<usize>,
    /// The match ID: `None` when there is none, else the identifier it is in (`None`: the
    /// primary id).
    matched: Option<Option<usize>>,
    /// Into [`CheckedBatch::ids`].
    ids: Range<usize>,
    /// Into [`CheckedBatch::keys`].
    keys: Range<usize>,
    /// Into [`CheckedBatch::segments`].
    segments: Range<usize>,
}

#[derive(Default)]
struct CheckedBatch {
    file_events: Option<Vec<GuardEvent>>,
    /// `None` from the first user the parser refused on.
    users: Vec<Option<CheckedUser>>,
    /// The users' ids and identifier values.
    text: String,
    /// (type, value) ranges into `text`.
    ids: Vec<(Range<usize>, Range<usize>)>,
    /// The users' keys in the feed index ([`FeedUser::keys`]).
    keys: Vec<u64>,
    /// Where the users' segments start.
    segments: Vec<SegmentAt>,
}

enum Checked {
    Users(CheckedBatch),
    End(End),
    Fallback,
}

impl Checker<'_> {
    /// Checks one document on the fast path; `Err(steps)` when the serial path must read it,
    /// `steps` being the steps taken here (file events, then one per user finished).
    pub(super) fn check_document_fast(
        &mut self,
        file: &str,
        entry: Option<&str>,
        input: Box<dyn Read + Send + '_>,
    ) -> Result<(), usize> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let limits = self.guard_limits();
        let total_read = self.log.borrow().total_read;
        let options = self.options;
        // Taken out for the threads to share while `merge` borrows the checker; put back.
        let pool = std::mem::take(&mut self.pool);
        let done = std::thread::scope(|scope| {
            let pool = &pool;
            let mut to_workers = Vec::with_capacity(workers);
            let mut from_workers = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (to, rx) = sync_channel::<Cut>(QUEUE);
                let (tx, from) = sync_channel::<Checked>(QUEUE);
                std::thread::Builder::new()
                    .name("check-work".into())
                    .spawn_scoped(scope, move || work(&rx, &tx, pool, options))
                    .map_err(|_| 0usize)?;
                to_workers.push(to);
                from_workers.push(from);
            }
            // Without threads the serial path reads the document.
            std::thread::Builder::new()
                .name("check-split".into())
                .spawn_scoped(scope, move || {
                    split(input, limits, total_read, &to_workers, pool);
                })
                .map_err(|_| 0usize)?;
            self.merge(file, entry, &from_workers, pool)
        });
        self.pool = pool;
        done
    }

    /// Takes the workers' batches in document order and finishes every user, as the serial
    /// path does: a user once the next one is read, the last at the end.
    fn merge(
        &mut self,
        file: &str,
        entry: Option<&str>,
        from_workers: &[Receiver<Checked>],
        pool: &Pool,
    ) -> Result<(), usize> {
        let mut steps = 0;
        let mut file_events = None;
        // The last user read, waiting for the next one: its batch and index there.
        let mut held: Option<(CheckedBatch, usize)> = None;
        for turn in 0.. {
            let Ok(checked) = from_workers[turn % from_workers.len()].recv() else {
                return Err(steps);
            };
            match checked {
                Checked::Users(mut batch) => {
                    if let Some(events) = batch.file_events.take() {
                        file_events = Some(events);
                    }
                    // The batch's table slots, fetched from memory together: its claims
                    // then find them in cache instead of waiting for them one by one.
                    self.index.prefetch(batch.keys.iter());
                    for i in 0..batch.users.len() {
                        if batch.users[i].is_none() {
                            return Err(steps);
                        }
                        if let Some(events) = file_events.take() {
                            self.file_events(file, entry, events);
                        } else if i > 0 {
                            if let Some(user) = batch.users[i - 1].take() {
                                self.finish_checked(file, entry, user, &batch);
                            }
                        } else if let Some((mut prev, at)) = held.take() {
                            if let Some(user) = prev.users[at].take() {
                                self.finish_checked(file, entry, user, &prev);
                            }
                            pool.give_checked(prev);
                        }
                        steps += 1;
                    }
                    match batch.users.len().checked_sub(1) {
                        Some(last) => held = Some((batch, last)),
                        None => pool.give_checked(batch),
                    }
                }
                Checked::End(end) => {
                    if let Some((mut prev, at)) = held.take() {
                        if let Some(user) = prev.users[at].take() {
                            self.finish_checked(file, entry, user, &prev);
                        }
                        pool.give_checked(prev);
                    }
                    if let Some(events) = end.file_events {
                        self.file_events(file, entry, events);
                    }
                    for finding in end.document {
                        self.emit(file, entry, finding);
                    }
                    self.log.borrow_mut().total_read = end.total_read;
                    return Ok(());
                }
                Checked::Fallback => return Err(steps),
            }
        }
        Err(steps)
    }

    fn finish_checked(
        &mut self,
        file: &str,
        entry: Option<&str>,
        user: CheckedUser,
        batch: &CheckedBatch,
    ) {
        let (text, keys) = (&batch.text, &batch.keys[user.keys]);
        let primary_id = &text[user.primary_id];
        let identifiers = batch.ids[user.ids]
            .iter()
            .map(|(id_type, value)| (&text[id_type.clone()], &text[value.clone()]));
        let matched = user.matched.map(|index| {
            let value = index.map_or(primary_id, |n| {
                identifiers.clone().nth(n).map_or("", |(_, value)| value)
            });
            (value, index)
        });
        let feed_user = FeedUser {
            primary_id,
            matched,
            identifiers,
        };
        let at = user.position;
        let (mut validation, rest) = (user.validation, user.rest);
        self.finish_user(file, entry, at, primary_id, user.reader, user.events, |c| {
            c.feed_checks(feed_user, keys, Some(at), &mut validation);
            validation.extend(rest);
            let segments = &batch.segments[user.segments];
            c.finish_user_findings(primary_id, Some(at), segments, &mut validation);
            validation
        });
    }
}

/// The splitter thread: guard, cut, batch, send in turn.
fn split(
    input: Box<dyn Read + Send + '_>,
    limits: GuardLimits,
    total_read: u64,
    workers: &[SyncSender<Cut>],
    pool: &Pool,
) {
    let log = Rc::new(RefCell::new(GuardLog::default()));
    log.borrow_mut().total_read = total_read;
    let guard = Guard::unscanned(input, Rc::clone(&log), limits);
    let mut splitter = UserSplitter::new(BufReader::with_capacity(READ_SIZE, guard));
    // What lies between the users is scanned here, from the splitter's window, which
    // keeps it until then; the users, by the workers.
    let mut scanned_to = 0;
    splitter.hold_from(scanned_to);
    let mut scanner = XmlScanner::new(alma_user_model::schema::is_container, limits.token);
    let mut scope: Option<Arc<XmlScanner>> = None;
    let mut turn = 0;
    let mut send = |cut: Cut| {
        let sent = workers[turn % workers.len()].send(cut).is_ok();
        turn += 1;
        sent
    };
    let new_batch = |xml: String| RawBatch {
        xml,
        ..RawBatch::default()
    };
    let mut batch = new_batch(pool.xml());
    // The last user cut out, whose XML ends the batch's: its events are known once the
    // next one starts.
    let mut held: Option<RawUser> = None;
    let too_many_events = |log: &RefCell<GuardLog>| log.borrow().pushed >= MAX_EVENTS as u64;
    loop {
        let cut = splitter.next_into(&mut batch.xml);
        let next = match cut {
            Split::User(at) => Some(at),
            Split::End => None,
            Split::Unsupported => {
                send(Cut::Fallback);
                return;
            }
        };
        // Scan what lies before the next user (or all that is left) and step over the user.
        let between = splitter.held(scanned_to, next.map(|at| at.start_offset));
        let scanned = between.is_some_and(|bytes| scanner.feed(bytes).is_none())
            && next.is_none_or(|_| {
                scope
                    .get_or_insert_with(|| Arc::new(scanner.clone()))
                    .same_scope(&scanner)
            });
        if !scanned {
            send(Cut::Fallback);
            return;
        }
        if let Some(at) = next {
            scanner.skip_child();
            scanned_to = at.start_offset + at.len as u64;
            splitter.hold_from(scanned_to);
        }
        let events = take_events(&log, next.map(|at| at.start_offset));
        match held.take() {
            Some(user) => batch.users.push((user, events)),
            None if next.is_some() => batch.file_events = Some(events),
            None => {
                // A document without users.
                if too_many_events(&log) {
                    send(Cut::Fallback);
                } else {
                    send(Cut::End(End {
                        file_events: Some(events),
                        document: splitter.document_findings().to_vec(),
                        total_read: log.borrow().total_read,
                    }));
                }
                return;
            }
        }
        let Some(at) = next else {
            // Everything is read: the serial path drops no event below the cap.
            if too_many_events(&log) {
                send(Cut::Fallback);
            } else if send(Cut::Users(RawBatch {
                scope: scope.clone(),
                ..batch
            })) {
                send(Cut::End(End {
                    file_events: None,
                    document: splitter.document_findings().to_vec(),
                    total_read: log.borrow().total_read,
                }));
            }
            return;
        };
        held = Some(at);
        if batch.xml.len() - at.len >= BATCH_BYTES {
            // Read as far as the serial path may have when it finishes the batch's users.
            splitter.read_to(at.start_offset + at.len as u64 + READ_AHEAD);
            if too_many_events(&log) {
                send(Cut::Fallback);
                return;
            }
            let mut next_xml = pool.xml();
            next_xml.push_str(&batch.xml[batch.xml.len() - at.len..]);
            batch.xml.truncate(batch.xml.len() - at.len);
            let full = std::mem::replace(&mut batch, new_batch(next_xml));
            if !send(Cut::Users(RawBatch {
                scope: scope.clone(),
                ..full
            })) {
                return;
            }
        }
    }
}

/// Guard events before `offset` (all of them when `None`).
fn take_events(log: &RefCell<GuardLog>, before: Option<u64>) -> Vec<GuardEvent> {
    let mut log = log.borrow_mut();
    if log.events.is_empty() {
        // Most users: no event, and nothing to collect.
        return Vec::new();
    }
    let split = before.map_or(log.events.len(), |b| {
        log.events.partition_point(|e| e.offset < b)
    });
    log.events.drain(..split).collect()
}

/// A worker thread: parses and checks batches, passes the rest on.
fn work(rx: &Receiver<Cut>, tx: &SyncSender<Checked>, pool: &Pool, options: &CheckOptions) {
    let mut kit = pool.kit();
    for cut in rx {
        let checked = match cut {
            Cut::Users(batch) => Checked::Users(check_batch(&mut kit, batch, options, pool)),
            Cut::End(end) => Checked::End(end),
            Cut::Fallback => Checked::Fallback,
        };
        if tx.send(checked).is_err() {
            break;
        }
    }
    pool.give_kit(kit);
}

fn check_batch(
    kit: &mut Kit,
    batch: RawBatch,
    options: &CheckOptions,
    pool: &Pool,
) -> CheckedBatch {
    let mut out = pool.checked(batch.users.len());
    out.file_events = batch.file_events;
    let mut at = 0;
    for (raw, events) in batch.users {
        let xml = &batch.xml[at..at + raw.len];
        at += raw.len;
        let Kit {
            parser,
            scanner,
            spare,
        } = kit;
        let read = batch
            .scope
            .as_deref()
            .and_then(|scope| read_user(parser, scanner, spare, scope, xml, &raw));
        let Some((read, clean)) = read else {
            out.users.push(None);
            break;
        };
        let checked = check_read(read, clean, events, options, &mut out, spare);
        out.users.push(Some(checked));
    }
    // Back to the splitter.
    pool.give_xml(batch.xml);
    out
}

/// The user in `xml` and whether it is clean, or `None` when the serial path must read the
/// document: read on the clean path when it is clean (see [`read_clean_reusing`]), else
/// scanned and parsed.
///
/// A clean user is well-formed for Java in any scope between the root's children, provided
/// none of its text runs is longer than the scanner's limit, which a user no longer than the
/// limit cannot have: its part of the scan would find nothing and leave the scope as it was.
/// Built with debug assertions (the tests), every clean user is also scanned and parsed, and
/// the two must agree.
fn read_user(
    parser: &mut UserParser,
    scanner: &mut XmlScanner,
    spare: &mut Spare,
    scope: &XmlScanner,
    xml: &str,
    raw: &RawUser,
) -> Option<(ReadUser, bool)> {
    // The user's part of the well-formedness scan (see the module docs), then the parser.
    let mut scanned = |parser: &mut UserParser| {
        scanner.restart_from(scope);
        let well_formed = scanner.feed(xml.as_bytes()).is_none() && scanner.same_scope(scope);
        well_formed.then(|| parser.parse(xml, raw)).flatten()
    };
    let clean = (xml.len() as u64 <= scope.text_limit())
        .then(|| read_clean_reusing(xml, raw, spare))
        .flatten();
    match clean {
        Some(read) => {
            #[cfg(debug_assertions)]
            {
                let reference = scanned(parser);
                assert_eq!(
                    reference.as_ref(),
                    Some(&read),
                    "the clean path differs from the scan and the parser on:\n{xml}"
                );
            }
            Some((read, true))
        }
        None => scanned(parser).map(|read| (read, false)),
    }
}

/// Everything about one user that needs no feed state; the user and its list of segments
/// are given back to `spare`.
fn check_read(
    read: ReadUser,
    clean: bool,
    events: Vec<GuardEvent>,
    options: &CheckOptions,
    out: &mut CheckedBatch,
    spare: &mut Spare,
) -> CheckedUser {
    let mut reader = read.findings;
    let blanked = blanked_fields(&reader);
    reader.extend(blanked);
    let user = &read.user;
    // Every value of a clean user is a piece of its bytes (the five predefined references
    // stand for `<>&"'`), and the guard reports every character XML forbids among the bytes
    // (no event: none): its characters need no second check.
    let validation = if clean && events.is_empty() {
        let found = alma_user_model::validate_rendered(user, &options.validation);
        debug_assert_eq!(found, alma_user_model::validate(user, &options.validation));
        found
    } else {
        alma_user_model::validate(user, &options.validation)
    };
    let mut rest = Vec::new();
    record_checks(options, user, &mut rest);
    let first_key = out.keys.len();
    let first_segment = out.segments.len();
    let (primary_id, first_id, matched) = {
        let feed = FeedUser::of(&options.match_id, user);
        feed.keys(&mut out.keys);
        let matched = feed.matched.map(|(_, index)| index);
        let mut keep = |s: &str| {
            let start = out.text.len();
            out.text.push_str(s);
            start..out.text.len()
        };
        let primary_id = keep(&user.primary_id);
        let first_id = out.ids.len();
        for (id_type, value) in feed.identifiers {
            let id_type = keep(id_type);
            let value = keep(value);
            out.ids.push((id_type, value));
        }
        (primary_id, first_id, matched)
    };
    let checked = CheckedUser {
        position: read.position,
        events,
        reader,
        validation,
        rest,
        primary_id,
        matched,
        ids: first_id..out.ids.len(),
        keys: first_key..out.keys.len(),
        segments: first_segment..first_segment + read.segments.len(),
    };
    out.segments.extend_from_slice(&read.segments);
    spare.recycle_segments(read.segments);
    spare.recycle(read.user);
    checked
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write as _};
    use std::path::Path;

    use proptest::prelude::*;
    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    use super::super::{CheckOptions, Checker, Limits, Summary};
    use alma_user_model::MatchId;

    /// Every finding as text, the summary and the feed index's counts.
    fn run(
        path: &Path,
        options: &CheckOptions,
        fast: bool,
    ) -> (Vec<String>, Summary, (usize, usize)) {
        let mut found = Vec::new();
        let (summary, retained) = {
            let mut checker = Checker::with_sink(options, |f| found.push(format!("{f:?}")));
            checker.fast = fast;
            checker.check_path(path).expect("readable");
            (checker.summary(), checker.retained())
        };
        (found, summary, (retained.users, retained.identifiers))
    }

    /// `bytes` written as file `name` in a new temporary folder (kept while the first is).
    fn written(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("writable");
        (dir, path)
    }

    /// Checks `bytes` as file `name` both ways and compares.
    fn same_with(name: &str, bytes: &[u8], options: &CheckOptions) {
        let (_dir, path) = written(name, bytes);
        let fast = run(&path, options, true);
        let serial = run(&path, options, false);
        assert_eq!(fast.1, serial.1, "{name}: summaries differ");
        assert_eq!(fast.2, serial.2, "{name}: feed index differs");
        assert_eq!(
            fast.0.len(),
            serial.0.len(),
            "{name}: finding counts differ"
        );
        for (f, s) in fast.0.iter().zip(&serial.0) {
            assert_eq!(f, s, "{name}: findings differ");
        }
    }

    fn same(name: &str, bytes: &[u8]) {
        same_with(name, bytes, &CheckOptions::default());
    }

    fn user(i: usize) -> String {
        format!(
            "  <user>\n    <primary_id>u{i}</primary_id>\n    <first_name>Zoë</first_name>\n    \
             <last_name>User {i}</last_name>\n    <user_group>UGRD</user_group>\n    \
             <expiry_date>2027-09-30Z</expiry_date>\n    <account_type>EXTERNAL</account_type>\n    \
             <status>ACTIVE</status>\n    <contact_info>\n      <emails>\n        \
             <email preferred=\"true\"><email_address>u{i}@example.edu</email_address>\
             <email_types><email_type>school</email_type></email_types></email>\n      \
             </emails>\n    </contact_info>\n    <user_identifiers>\n      <user_identifier>\
             <id_type>BARCODE</id_type><value>B{}</value></user_identifier>\n    \
             </user_identifiers>\n  </user>\n",
            // Every 97th barcode repeats an earlier one.
            if i % 97 == 96 { i / 2 } else { i }
        )
    }

    fn doc(users: impl IntoIterator<Item = String>) -> Vec<u8> {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<users>\n");
        for u in users {
            xml.push_str(&u);
        }
        xml.push_str("</users>\n");
        xml.into_bytes()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            zip.start_file(*name, SimpleFileOptions::DEFAULT)
                .and_then(|()| zip.write_all(bytes).map_err(Into::into))
                .expect("writing to memory succeeds");
        }
        zip.finish().expect("in memory").into_inner()
    }

    /// A document of `n` users with `change` applied to user `at`.
    fn with(n: usize, at: usize, change: impl Fn(String) -> String) -> Vec<u8> {
        doc((0..n).map(|i| if i == at { change(user(i)) } else { user(i) }))
    }

    /// Documents `bytes` (as file `name`) has that the fast path reads whole.
    fn read_fast(name: &str, bytes: &[u8]) -> usize {
        let (_dir, path) = written(name, bytes);
        let options = CheckOptions::default();
        let mut checker = Checker::new(&options);
        checker.check_path(&path).expect("readable");
        checker.fast_documents
    }

    #[test]
    fn clean_documents_are_read_whole_the_fast_way() {
        // Several batches a document, and what the first document's threads gave back
        // (buffers, batches' lists, spares) reused by the next ones'.
        let big = doc((0..3000).map(user));
        let zip = zip_of(&[("a.xml", &big), ("b.xml", &big), ("c.xml", &big)]);
        assert_eq!(read_fast("users.zip", &zip), 3);
        // Blanks and comments between the users, several reads long, scanned from the
        // splitter's window.
        let spaced = doc((0..300).map(|i| {
            let gap = if i % 50 == 0 { 70_000 } else { i % 7 };
            format!("{}<!-- {i} -->\n{}", " ".repeat(gap), user(i))
        }));
        assert_eq!(read_fast("spaced.xml", &spaced), 1);
        same("spaced.xml", &spaced);
    }

    #[test]
    fn clean_and_duplicated_feeds_check_alike() {
        let big = doc((0..3000).map(user));
        same("users.xml", &big);
        // The same users twice over two entries: every id is taken in the second.
        same("users.zip", &zip_of(&[("a.xml", &big), ("b.xml", &big)]));
        let by_barcode = CheckOptions {
            match_id: MatchId::Identifier("BARCODE".into()),
            ..CheckOptions::default()
        };
        same_with("users.xml", &big, &by_barcode);
    }

    #[test]
    fn byte_level_problems_check_alike() {
        // The first name of every `every`th user starts with `byte`.
        let bad = |every: usize, byte: u8| {
            let mut bytes = Vec::new();
            for (i, u) in (0..3000).map(user).enumerate() {
                let u = u.into_bytes();
                match u.windows(3).position(|w| w == b"Zo\xC3") {
                    Some(z) if i % every == 0 => {
                        bytes.extend(&u[..z]);
                        bytes.push(byte);
                        bytes.extend(&u[z + 1..]);
                    }
                    _ => bytes.extend(u),
                }
            }
            let mut xml = doc([]);
            let end = xml.len() - "</users>\n".len();
            xml.splice(end..end, bytes);
            xml
        };
        // A few bad bytes, then so many that the serial path drops some.
        for every in [1000, 100, 3, 1] {
            for byte in [0xE9, 0x1B, 0x00] {
                let bytes = bad(every, byte);
                same("bytes.xml", &bytes);
            }
        }
        let big = doc((0..3000).map(user));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(&big);
        same("bom.xml", &bom);
        same("junk.xml", &[b"ftp> get\n".as_slice(), &big].concat());
    }

    #[test]
    fn empty_types_check_alike() {
        for at in [0, 1500, 2999] {
            same(
                "empty-type.xml",
                &with(3000, at, |u| {
                    u.replace("<email_type>school</email_type>", "<email_type/>")
                }),
            );
        }
    }

    #[test]
    fn documents_the_fast_path_stops_on_check_alike() {
        for at in [0, 1, 1500, 2999] {
            same(
                "cdata.xml",
                &with(3000, at, |u| u.replace("Zoë", "<![CDATA[Zoë]]>")),
            );
            same(
                "broken.xml",
                &with(3000, at, |u| u.replace("</first_name>", "")),
            );
            same(
                "entity.xml",
                &with(3000, at, |u| u.replace("Zoë", "Z&ouml;e\u{1}")),
            );
            let mut cut = with(3000, at, |u| u);
            cut.truncate(cut.len() * (at + 1) / 3001);
            same("cut.xml", &cut);
        }
        let tight = |entry: u64, token: u64| CheckOptions {
            limits: Limits {
                max_entry_bytes: entry,
                max_total_bytes: 80 << 30,
                max_token_bytes: token,
            },
            ..CheckOptions::default()
        };
        let big = doc((0..3000).map(user));
        same_with("entry-limit.xml", &big, &tight(1_000_000, 1 << 20));
        let long = with(3000, 2000, |u| u.replace("Zoë", &"z".repeat(300_000)));
        same_with("token-limit.xml", &long, &tight(u64::MAX, 100_000));
        same_with(
            "zip-limits.zip",
            &zip_of(&[("a.xml", &big), ("b.xml", &long)]),
            &tight(4_000_000, 200_000),
        );
    }

    #[test]
    fn violations_only_the_scan_sees_check_alike() {
        // Markup the fast reader takes but Java's parser refuses, in a user and between them.
        for at in [0, 1, 1500, 2999] {
            for (name, change) in [
                ("attributes.xml", "<user a=\"1\" a=\"2\">"),
                ("prefix.xml", "<user x:a=\"1\">"),
                ("cdata-end.xml", "<user>]]>"),
                ("pi.xml", "<user><?xml version=\"1.0\"?>"),
                ("comment.xml", "<user><!-- a -- b -->"),
            ] {
                same(name, &with(3000, at, |u| u.replacen("<user>", change, 1)));
            }
            same(
                "between.xml",
                &with(3000, at, |u| format!("<!-- a -- b -->{u}")),
            );
            same("stray.xml", &with(3000, at, |u| format!("{u}]]>")));
            // In a value of a user otherwise clean (the clean path reads it): only the scan
            // sees it.
            same(
                "cdata-end-in-value.xml",
                &with(3000, at, |u| u.replacen("Zoë", "Zo]]>ë", 1)),
            );
        }
        let mut epilog = doc((0..3000).map(user));
        epilog.extend(b"<users/>\n");
        same("epilog.xml", &epilog);
    }

    #[test]
    fn namespaces_and_comments_between_users_check_alike() {
        let mut bound = String::from_utf8(doc((0..3000).map(|i| {
            let u = user(i).replacen("<user>", "<user x:n=\"1\">", 1);
            if i % 7 == 0 {
                format!("  <!-- user {i} --><?note {i}?>\n{u}")
            } else {
                u
            }
        })))
        .expect("UTF-8");
        bound = bound.replacen("<users>", "<users xmlns:x=\"urn:x\">", 1);
        same("bound.xml", bound.as_bytes());
        // Bound in one user only: unbound in the next.
        let scoped = with(3000, 1500, |u| {
            let bound = u.replacen("<user>", "<user xmlns:x=\"urn:x\" x:n=\"1\">", 1);
            let next = user(1501).replacen("<user>", "<user x:n=\"1\">", 1);
            format!("{bound}{next}")
        });
        same("scoped.xml", &scoped);
    }

    #[test]
    fn long_whitespace_checks_alike() {
        let blank = " \n\t".repeat(150_000);
        // Between users, inside a user, and before stray text in a user.
        same(
            "blank.xml",
            &with(500, 250, |u| format!("{blank}{u}{blank}")),
        );
        same(
            "inside.xml",
            &with(500, 10, |u| {
                u.replace("<contact_info>", &format!("{blank}<contact_info>"))
            }),
        );
        same(
            "stray.xml",
            &with(500, 300, |u| {
                u.replace("<contact_info>", &format!("{blank}stray<contact_info>"))
            }),
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn damaged_documents_check_alike(changes in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut bytes = doc((0..400).map(user));
            for (at, byte) in changes {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            same("damaged.xml", &bytes);
        }
    }
}
