#![cfg(not(target_arch = "wasm32"))]

//! Deterministic simulation of the whole transport (issues 8, 19, 20): the
//! real [`Engine`](trigger_chat_wasm::engine::Engine) and the real effect
//! runner (`trigger_chat_wasm::runner`, the code the browser runs) on a
//! simulated host (`tests/sim/host.rs`), driven by one seeded RNG against a
//! model of the Sessions API, a model agent and a model user, on a virtual
//! clock. See `tests/sim/driver.rs` for the invariants.
//!
//! `cargo test --test sim` runs the fixed seeds 1..=10,000, fails if they
//! never reached a required coverage mark, then explores fresh seeds from
//! a base derived from the commit (`SIM_BASE=b` sets it; `SIM_FRESH=n`
//! caps how many, within half the fixed seeds' time) and prints the table
//! of marks. `SIM_SEEDS=N` runs N seeds instead (`SIM_FIRST=k` starts at
//! seed k; what `cargo xtask soak` does); `SIM_SEED=x` runs one and prints
//! its trace (`SIM_TRACE=n` keeps the last n steps, default 40).
//! `SIM_CLASSIC=1` runs seeds unswarmed, as every seed ran before the
//! swarm (`driver::Swarm`).

#[path = "sim/driver.rs"]
mod driver;
#[path = "sim/host.rs"]
mod host;
#[path = "sim/world.rs"]
mod world;

use driver::{Profile, Sim};
use std::time::Instant;

/// Seeds that once failed, each with what it found. They run first, every
/// time.
const REGRESSIONS: &[(u64, &str)] = &[
    // Engine bugs, fixed in src/engine/ and codec/src/session.rs.
    (43035050, "an unknown gate armed after the active send began was not stored as such: a reload's resume took that send's boundary as the gate's and a given-up reply showed in the next stream (gateAfterActiveSend)"),
    (86, "the gate opened without moving the cursor: a reload replayed the stopped turn"),
    (275, "an unknown gate opened at the first earlier boundary: our aborted turn leaked into the next reply"),
    (208, "reconnect refused while the gate waited, though a send after the stop was in flight: a reload lost its reply"),
    (567, "the same, with a stored cursor"),
    (2261, "a stop that got 404 made a new session and wiped a concurrent send's state: its stopped turn leaked"),
    (6483, "a stop fired on an abort landed after the next send and cut the new reply"),
    (2416, "two sends resolved out of order: the earlier seq stayed active and a stop gated the wrong turn"),
    (15295, "a send resolved after a later send's stream read past its turn: its stream never ended"),
    (10790, "the same, found as a stream still running minutes after its turn ended"),
    (30202, "the same"),
    (99248, "a gate for a later turn failed a late send's own stream with 'previous turn's output was lost'"),
    (71113, "the same"),
    (37321, "the same"),
    (62587, "a stream opened before the gate was armed again opened the newer gate: the aborted turn leaked"),
    (65679, "the same"),
    // The simulator's own model, made precise on the way.
    (57, "a 401 after a refresh is excused only when a refreshed token expired"),
    (125, "agent pauses longer than the long poll stop once the run winds down"),
    (1473, "a 404 on .out is excused when the session is gone"),
    (812, "a closed session refuses sends even after the server forgot it"),
    (1084, "a turn-complete that closes the session ends every stream"),
    (1810, "the same"),
    (8101, "a stop fired on an abort gives up the turn in flight too"),
    (5137, "the same"),
    (2329, "a stop cut short by dispose did not commit: its turn may be resumed"),
    (14024, "a stopped turn may show in its own stream"),
    (16053, "of two sends resolved out of order, the later seq is the one in flight"),
    (13405, "a send already answered in another stream ends at once, empty"),
    (41750, "the same, then a reload"),
    (262615, "two sends met the same 404: the second reset the session the first had made and read"),
    (225961, "an unknown gate dropped a concurrent send's turn (by design; the send ends empty)"),
    (360363, "a late turn-complete's older token replaced a send's refreshed one: the send gave up on 401"),
    (170011, "a gate raised to a later turn let a late send's stream show the first stopped turn"),
    (167354, "a send begun before an abort's unknown gate opened it at its own boundary: the aborted turn leaked"),
    (144753, "a watcher past its own turn did not skip to the later stopped turn's end"),
    (93695, "a watcher resumed behind an unknown gate opened it for the next reply too"),
    (7094, "the same (a watcher behind an unknown gate may show the stopped turn, by design)"),
    (17, "a watcher's turns count as delivered as they complete"),
    (1237291, "a send resolved after a gate's boundary had passed its turn: its stream showed the next turn"),
    (924415, "a stream opened in the same millisecond before an abort's gate may show that turn"),
    (901695, "a reply refused for good (401 after a refresh) is not resumed by a reload"),
    (983863, "a reply refused for good was no longer outstanding: a stop cut it ungated and it showed in the next reply"),
    (1768121, "a stop fired on an abort landed after a send already on its way and cut that send's reply, ungated: the next reply showed it"),
    (1776420, "the same, the stop delayed by a token refresh"),
    (29287, "gating a send's turn when a late stop landed broke a turn that had ended normally (the rejected fix)"),
    (48051, "the same, a reload that did not resume"),
    (2890159, "skipping the stop behind an unknown gate let the turn it drops run on unstopped: a reload found a reply in flight it may not resume"),
    (1337386, "the same"),
    (7452375, "a stream of an earlier send refused for good marked the later reply in flight not resumable: a reload lost it"),
    (3227025, "the same, behind a gate"),
    (8854009, "a send resolved after a stop armed the gate; the gate's boundary answered it too, but it stayed outstanding, so aborting its stream gated and stopped the next reply: \"output lost\""),
    (15234760, "the app left while a watcher owned its turn: the stop that leaving fired was never run to its end (a harness fix)"),
    (2544028, "a watcher resumed after a reload took the agent's duplicate write right after its cursor for a server replaying: it ended without its turn"),
    (14973013, "the session was gone and a send made it again while a resume's connection was in flight: the new session answered it from the old cursor and the turn lost its first chunks"),
    (209123, "the same, fixed by restarting every open stream: a send's stream then showed another send's reply (the rejected fix)"),
    (1228356, "the same, a stream in the middle of an old-session turn showed the new session's turn after half of the old one"),
    (748974, "a reload resumed a reply against a session already gone; a send made it again: the resume ends with the reply lost (excused: the session was gone before the stream opened)"),
];

/// Seeds found with the swarm (`driver::Swarm`), run swarmed.
const REGRESSIONS_SWARMED: &[(u64, &str)] = &[
    // The simulator's own model, with the runner and the offline model
    // (2026-12-06 soaks of 10,000,000 seeds each).
    (110246591, "a request in flight when the browser went offline failed without counting toward the stream's retry budget"),
    (112140089, "the same"),
    (110363132, "the same"),
    (110913946, "the same"),
    // 2026-12-07, seeds 110,000,001..120,000,000 again (after the fix of
    // 110978127): the model, made precise.
    (116478516, "a late send's stream (its turn went by before it resolved) was taken to supersede the chat's stream, so aborting that one was expected to stop nothing"),
    (118069943, "the same"),
    (117801818, "the same"),
    (116792784, "clearSupersedeGate with no gate armed was taken to forget the reply in flight (the engine forgets it only with a gate)"),
    // The engine: a send offline past offlineSendTimeoutMs whose last try
    // had hit the 30 s deadline failed with TIMEOUT, not the documented
    // network error.
    (112578143, "a stop fired for an aborted send cut another reply still running at the agent, so the aborted turn ran whole and a watcher showed it: true to the server (the model now knows which turn each stop cut)"),
    (301024810, "a send resolving after a later one's reply was refused for good (403 twice) did not become the reply in flight: a reload resumed the refused one's seq instead"),
    (224025975, "the first fix of 209211236 took a stream that restarted on the remade session (it stood between turns) as stale too: the new session's turn-complete it read was not applied, and the next send showed that turn again (block 2 of the 100M soak)"),
    (220997319, "the same"),
    (225721105, "the same"),
    (221787806, "the same"),
    (224613082, "the same"),
    (227028950, "the same"),
    (233732971, "the same (block 3, at the first fix too)"),
    (233762959, "the same"),
    (234576955, "the same"),
    (231416270, "the same"),
    (234974170, "the same"),
    (230562040, "the same, in watch mode: the watcher that restarted on the remade session ended early"),
    (209211236, "a stream of a session since made again applied that session's turn-complete to the new one (its answered seq and cursor): the next send's stream ended at once, empty"),
    (300498862, "the same as classic 43035050, after a reload from partial storage (a 1,000,000-seed soak from 300,000,001)"),
    (116122581, "a send offline past offlineSendTimeoutMs failed with its last try's TIMEOUT instead of the documented NETWORK error"),
    // Engine bugs found by the runner's models (requests that never
    // answer, callbacks that blip), fixed in src/engine/sends.rs.
    (110978127, "a send answered before it resolved got an empty stream, though a gate had skipped its turn unshown (a later send's stream read past it as before the stopped turn): the reply was never seen"),
    (112077564, "the same, in watch mode, behind a gate that held the turn back and dropped it"),
    (244015237, "the same, where the skipped turn ended at a later .in seq than the send's (the agent took a stop in during it: its turn-complete carried the stop's seq): the late send matched boundaries exactly and got an empty stream (block 4 of the 100M soak)"),
    (259445860, "a watcher past its own turn, behind the gate an aborted send armed (its seq unknown), took the first turn to end for the stopped one and showed the stopped turn, which ended later at the detached stop's seq; turns that ended before the stop's seq no longer open the gate (block 5 of the 100M soak)"),
    (380097667, "the first fix of 259445860 (turns held until their end, the first to end after the stop's seq shown) showed an aborted turn: the stop cut another turn out of order, and the aborted turn ran after it and took a later message in, so it ended after the stop's seq (the 100M soak on 99e4603)"),
    (416517652, "a detached stop sent for a turn of the session before it was made again (another send met a 404 and made it) landed in the new session, whose address is the chat's, and stopped the turn running there; nothing gated that turn, so a later reply's stream showed it; such a stop now gates the turn in flight as a stop does (the 100M soak on 0c038ef)"),
    (609148681, "the fix of 416517652 gated the turn the stop cut while the stream of that turn, opened before the gate, was still reading: it read the stopped turn's end as its own and moved the stored cursor past it, and the gate waited for that end for ever (the next reply failed with 'the previous turn's output was lost'); a turn-complete that answers the gate's stopped seq now clears the gate (the soak on c79ea24)"),
    (609948633, "the same"),
    (766616605, "two sends resolved out of order and the later seq's reply was refused for good, so the earlier seq was held in flight; aborting its stream gated that seq, but its turn had ended and the stop cut the refused reply's turn, still running at the agent, which then showed in the next reply; a stream's abort now gates the latest seq of ours not seen to end (the 100M soak on 10ad00e)"),
    (876297315, "watch mode: the later seq's reply was refused for good, and the earlier seq's turn end, read by a watcher, left no turn in flight; a stopGeneration then landed while the refused reply's turn still ran and gated nothing, so the next send's stream showed the cut turn; a stop that lands after such a send's message now gates its turn (the count on 42ff27c)"),
    (962126029, "watch mode: an aborted send's stop landed at .in seq 0, before any message, and armed a gate of unknown seq after two sends began; the later-called send resolved first and its stream was superseded by the earlier one's, whose watcher took its own turn's end for a stopped turn still to come and skipped the next turn, the other send's reply, as that stopped turn; a stop that landed before the stream's own message now counts as cutting an earlier turn (the count on 1b33514, after 86,000,000 seeds passed)"),
    (313229933, "the model: a send that resolved after its turn, which the engine did not know was answered (so it streamed from the chat's cursor), was superseded by a newer send before it could show that turn; a superseded stream ends quietly, as any (the 100M soak on one code)"),
    (315932830, "the model: a stream resumed before the calm on a connection that splits its body into 7-byte pieces, with ~1.7 MB of backlog, was still reading when the calm stretch ran out; the body's splitting ends with the other faults"),
    (264965805, "the model: a late send's stream that failed (a 404: the session was gone) was taken to have ended empty at once; it answers for its error as any stream (block 6 of the 100M soak)"),
    // Engine bugs, fixed in codec/src/session.rs.
    (5, "a server that ignored Last-Event-ID replayed the session to a new stream, whose part-id filter had never seen those records: a turn delivered before showed again"),
    (79, "the same"),
    (160, "the same"),
    // The simulator's own model, made precise on the way.
    (4997, "after clearSupersedeGate the engine forgot the reply in flight: aborting its stream stops and gates nothing"),
    (315979, "a watcher resumed after a reload ends at a server that ignores Last-Event-ID, by design"),
    (377825737170, "a fresh CI seed: a reconnect inside a stream replayed from the session's start; the model now replays only a stream's first connection (later ones cannot be told from the vendor's renumbered windows)"),
    (52081, "a watcher resumed from partial storage of a closed session waits (the close was forgotten): the app leaves"),
    (291168, "the same"),
];

/// Runs one seed (swarmed or not, see `driver::Swarm`); on failure the
/// seed's violations and the last ~40 steps.
fn run_seed(seed: u64, swarm: bool) -> Result<u64, String> {
    let mut sim = Sim::with_swarm(seed, None, false, swarm);
    sim.run();
    if sim.violations.is_empty() {
        return Ok(sim.steps);
    }
    // Deterministic: run it again with the trace on.
    let mut sim = Sim::with_swarm(seed, None, true, swarm);
    sim.run();
    let trace: Vec<String> = sim.trace.take().unwrap_or_default().into();
    Err(format!(
        "seed {seed} (SIM_SEED={seed} cargo test -p trigger-chat-wasm --test sim random_seeds -- --nocapture)\n  {}\n  profile {:?}\n  trace:\n    {}",
        sim.violations.join("\n  "),
        sim.prof,
        trace.join("\n    ")
    ))
}

/// Coverage marks (`mark!` in the engine and codec) that the fixed
/// 10,000 seeds must reach: a change to the simulator or the engine that
/// stops reaching one of these rare branches fails the test, rather than
/// quietly testing less.
const REQUIRED_MARKS: &[&str] = &[
    "abort-send-maybe-landed",
    "abort-stream-owns-turn",
    "append-404-makes-session-again",
    "append-failed-offline-waits",
    "append-429-waits-for-reset",
    "append-refused-after-refresh",
    "append-retries-exhausted",
    "callback-blip-retried",
    "cut-inside-a-batch",
    "duplicate-part-dropped",
    "gate-armed-again",
    "gate-boundary-answers-reply-in-flight",
    "gate-drops-held-turn",
    "gate-opened-at-stopped-turn-end",
    "gate-releases-held-reply",
    "gate-skips-turn-before-stopped-one",
    "gate-unknown-watcher-reads-on",
    "offline-send-timed-out",
    "outcome-after-the-op-ended",
    "record-at-or-before-the-cursor-dropped",
    "reply-refused-for-good",
    "runner-deadline-passed",
    "runner-effect-interrupted",
    "runner-interrupt-before-effect",
    "send-waits-for-stop",
    "server-error-event",
    "server-replayed-the-cursor",
    "stop-gates-turn-in-flight",
    "stop-on-abort-fired",
    "stop-on-abort-skipped-racing",
    "stream-refused-after-refresh",
    "stream-retries-exhausted",
    "stream-stalled",
    "stream-token-blip-retried",
    "stream-waits-online",
    "stream-token-refresh",
    "stream-woken-reconnects",
    "turn-complete-before-own-skipped",
    "turn-complete-of-an-earlier-send",
    "watcher-past-its-retry-budget",
];

/// The marks hit, summed over threads, by name.
type Marks = std::collections::BTreeMap<&'static str, u64>;

fn add_marks(into: &mut Marks, from: impl IntoIterator<Item = (&'static str, u64)>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// Prints the table of marks (the ones never hit, of those known, too).
fn print_marks(marks: &Marks) {
    println!("coverage marks (hits over the seeds run):");
    for (k, v) in marks {
        println!("  {v:>10}  {k}");
    }
    for k in REQUIRED_MARKS {
        if !marks.contains_key(k) {
            println!("  {:>10}  {k}", 0);
        }
    }
}

fn run_seeds(seeds: Vec<u64>, swarm: bool) -> (Vec<String>, u64) {
    run_seeds_marked(seeds, None, swarm).0
}

/// Runs the seeds on a few threads; the failures, the steps, and the
/// coverage marks hit. With a deadline, each thread stops taking seeds
/// once it has passed (the seeds not run are left out of the count).
fn run_seeds_marked(
    seeds: Vec<u64>,
    deadline: Option<Instant>,
    swarm: bool,
) -> ((Vec<String>, u64), Marks, u64) {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let chunks: Vec<Vec<u64>> = (0..threads)
        .map(|t| seeds.iter().copied().skip(t).step_by(threads).collect())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|c| {
            std::thread::spawn(move || {
                let mut fails = Vec::new();
                let mut steps = 0;
                let mut heavy = (0, 0);
                let mut ran = 0u64;
                let _ = trigger_chat_wasm::marks::take();
                for s in c {
                    if deadline.is_some_and(|d| Instant::now() > d) {
                        break;
                    }
                    ran += 1;
                    match run_seed(s, swarm) {
                        Ok(n) => {
                            steps += n;
                            heavy = heavy.max((n, s));
                        }
                        Err(e) => fails.push(e),
                    }
                    if fails.len() >= 3 {
                        break;
                    }
                }
                (fails, steps, heavy, trigger_chat_wasm::marks::take(), ran)
            })
        })
        .collect();
    let mut fails = Vec::new();
    let mut steps = 0;
    let mut heavy = (0, 0);
    let mut marks = Marks::new();
    let mut ran = 0;
    for h in handles {
        let (f, s, hv, m, n) = h.join().expect("a simulation thread panicked");
        fails.extend(f);
        steps += s;
        heavy = heavy.max(hv);
        add_marks(&mut marks, m);
        ran += n;
    }
    if heavy.0 > 0 {
        println!("the longest run: seed {} with {} steps", heavy.1, heavy.0);
    }
    ((fails, steps), marks, ran)
}

/// The first of the fresh seeds this run explores: `SIM_BASE`, else one
/// derived from the commit checked out (`git rev-parse HEAD`), else from
/// the time. Far above the fixed seeds and the soaks so far.
fn fresh_base() -> u64 {
    if let Some(b) = std::env::var("SIM_BASE").ok().and_then(|v| v.parse().ok()) {
        return b;
    }
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| o.stdout);
    let key = head.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        t.to_le_bytes().to_vec()
    });
    // FNV-1a.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    1_000_000_000 + h % 1_000_000_000_000
}

#[test]
fn regression_seeds() {
    let (mut fails, _) = run_seeds(REGRESSIONS.iter().map(|r| r.0).collect(), false);
    let (swarmed, _) = run_seeds(REGRESSIONS_SWARMED.iter().map(|r| r.0).collect(), true);
    fails.extend(swarmed);
    assert!(fails.is_empty(), "{}", fails.join("\n\n"));
}

#[test]
fn random_seeds() {
    // The fixed seeds (CI's) also check the required marks and explore a
    // block of fresh seeds; an explicit SIM_SEEDS (a soak) runs just those.
    let fixed = std::env::var("SIM_SEED").is_err() && std::env::var("SIM_SEEDS").is_err();
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000);
            let first: u64 = std::env::var("SIM_FIRST")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            (first..first + n).collect()
        }
    };
    if seeds.len() == 1 {
        let mut sim = Sim::with_swarm(seeds[0], None, true, true);
        sim.trace = Some(Default::default());
        sim.run();
        let trace: Vec<String> = sim.trace.take().unwrap_or_default().into();
        println!("profile {:?}\n{}", sim.prof, trace.join("\n"));
    }
    let started = Instant::now();
    let n = seeds.len();
    let ((mut fails, steps), mut marks, _) = run_seeds_marked(seeds, None, true);
    let took = started.elapsed();
    println!("{n} seeds, {steps} steps in {:.1} s", took.as_secs_f64());
    if fixed {
        let missing: Vec<&str> = REQUIRED_MARKS
            .iter()
            .copied()
            .filter(|k| !marks.contains_key(k))
            .collect();
        if !missing.is_empty() {
            fails.push(format!(
                "the fixed seeds never reached these required marks: {missing:?}"
            ));
        }
        // Fresh seeds: as many as fit in half the time the fixed ones took
        // (at most SIM_FRESH, default 20,000), from a base of this commit.
        let base = fresh_base();
        let most: u64 = std::env::var("SIM_FRESH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let t0 = Instant::now();
        let ((f, fsteps), m, ran) =
            run_seeds_marked((base..base + most).collect(), Some(t0 + took / 2), true);
        println!(
            "fresh seeds: {ran} from {base} ({fsteps} steps in {:.1} s); this block again: \
             SIM_SEEDS={ran} SIM_FIRST={base} cargo test -p trigger-chat-wasm --test sim random_seeds -- --nocapture",
            t0.elapsed().as_secs_f64()
        );
        fails.extend(f);
        add_marks(&mut marks, m);
    }
    print_marks(&marks);
    assert!(fails.is_empty(), "{}", fails.join("\n\n"));
}

#[test]
fn a_calm_run_delivers_every_reply() {
    let mut sim = Sim::new(7, Some(Profile::calm()), false);
    sim.run();
    assert!(sim.violations.is_empty(), "{:?}", sim.violations);
}

// ----- the six scenarios of issue 8, as deterministic runs -------------------

use driver::Behave;
use trigger_chat_wasm::engine::{Done, OpId, Source};
use trigger_chat_wasm::Error;

const HOUR: u64 = 3_600_000;

fn clean(sim: &Sim) {
    assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
}

/// The turns a stream's chunks came from, in order, once each.
fn turns_of(sim: &Sim, stream: OpId) -> Vec<u32> {
    let mut turns: Vec<u32> = Vec::new();
    for &(t, _) in &sim.ops[&stream].chunks {
        if turns.last() != Some(&t) {
            turns.push(t);
        }
    }
    turns
}

/// The stream ended normally with exactly one turn's chunks, all of them,
/// in order; that turn's id.
fn exact_reply(sim: &Sim, stream: OpId) -> Option<u32> {
    let o = &sim.ops[&stream];
    if o.result != Some(Ok(Done::Closed)) {
        return None;
    }
    let [t] = turns_of(sim, stream)[..] else {
        return None;
    };
    let want: Vec<(u32, u32)> = (0..sim.turns[t as usize].written).map(|i| (t, i)).collect();
    (o.chunks == want && sim.turns[t as usize].done.is_some()).then_some(t)
}

fn set_timeout(sim: &mut Sim, seconds: u32) {
    sim.cfg.timeout_seconds = seconds;
    let cfg = sim.cfg.clone();
    sim.engine_mut(|e| *e.config_mut() = cfg);
}

#[test]
fn scenario_1_cuts_in_a_3000_byte_window_lose_nothing() {
    // Every `.out` connection is cut at a uniformly random byte offset in
    // its first 3,000 bytes while 2,000-token replies stream at 20 ms a
    // token.
    let mut p = Profile::calm();
    p.cut = 1000;
    p.cut_window = 3000;
    p.turn_len = (2000, 2000);
    p.tok_ms = (20, 20);
    // The emulator on the same machine: a few ms to connect; reads bring
    // what has arrived.
    p.latency = (1, 5);
    p.read_ms = (0, 1);
    p.wake_ms = (0, 2);
    p.max_piece = Some(1 << 20);
    let seed = std::env::var("SIM_SCENARIO_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut sim = Sim::new(seed, Some(p), std::env::var("SIM_TRACE").is_ok());
    set_timeout(&mut sim, 60);
    let mut exact = 0;
    for _ in 0..10 {
        let send = sim.send(Source::Submit);
        let stream = sim
            .run_reply(send, sim.now + HOUR)
            .expect("the send resolved");
        clean(&sim);
        if let Some(t) = exact_reply(&sim, stream) {
            assert_eq!(sim.turns[t as usize].written, 2000);
            exact += 1;
        } else {
            let o = &sim.ops[&stream];
            println!("not exact: {:?}, {} chunks", o.result, o.chunks.len());
            if let Some(t) = &sim.trace {
                println!("{}", t.iter().cloned().collect::<Vec<_>>().join("\n"));
                break;
            }
        }
    }
    assert_eq!(exact, 10, "replies delivered exactly");
    assert!(
        sim.connects > 100,
        "the connections were cut: {}",
        sim.connects
    );
    sim.dispose();
    clean(&sim);
}

#[test]
fn scenario_2_a_late_stop_does_not_eat_the_next_reply() {
    let mut sim = Sim::new(2, Some(Profile::calm()), false);
    let a = sim.send(Source::Submit);
    let sa = sim.run_reply(a, HOUR).unwrap();
    assert!(exact_reply(&sim, sa).is_some());
    // Stop with nothing running: it goes through.
    let stop = sim.stop_generation();
    sim.run_until_done(stop, sim.now + HOUR);
    assert_eq!(sim.ops[&stop].result, Some(Ok(Done::Bool(true))));
    let b = sim.send(Source::Submit);
    let sb = sim.run_reply(b, sim.now + HOUR).unwrap();
    clean(&sim);
    let t = exact_reply(&sim, sb).expect("the next reply arrives whole and ends");
    let (_, ended) = sim.turns[t as usize].done.unwrap();
    assert!(
        sim.now - ended < 5_000,
        "the stream ended {} ms (virtual) after its turn",
        sim.now - ended
    );
    sim.dispose();
    clean(&sim);
}

#[test]
fn scenario_3_an_abort_during_a_429_retry_lands_nothing() {
    let mut sim = Sim::new(3, Some(Profile::calm()), false);
    let a = sim.send(Source::Submit);
    sim.run_reply(a, HOUR).unwrap();
    // The next append gets 429, its reset 1.5 s away; the app aborts after
    // 200 ms.
    sim.script_append.push_back((429, Some(1_500)));
    let b = sim.send(Source::Submit);
    sim.run_until(sim.now + 200);
    assert!(!sim.is_done(b), "still waiting for the rate limit");
    sim.abort(b);
    assert!(sim.is_done(b), "the abort ends the send at once");
    assert_eq!(sim.ops[&b].result, Some(Err(Error::Aborted)));
    let part = sim.ops[&b].part.clone().expect("it was tried");
    sim.run_until(sim.now + 10_000);
    assert!(
        !sim.landed_parts.contains(&part),
        "the aborted append was retried"
    );
    // The next reply carries its own turn only.
    let c = sim.send(Source::Submit);
    let sc = sim.run_reply(c, sim.now + HOUR).unwrap();
    clean(&sim);
    assert!(exact_reply(&sim, sc).is_some(), "{:?}", turns_of(&sim, sc));
    sim.dispose();
    clean(&sim);
}

#[test]
fn scenario_4_a_token_that_expires_twice_in_one_quiet_stretch() {
    // `/pause 8` with `streamTimeoutSeconds: 1`, every token expired at
    // 1.5 s and again at 4.5 s.
    let mut p = Profile::calm();
    p.turn_len = (5, 5);
    let mut sim = Sim::new(4, Some(p), false);
    set_timeout(&mut sim, 1);
    sim.first_chunk_delay = Some(8_000);
    let t0 = sim.now;
    sim.expire_at(t0 + 1_500);
    sim.expire_at(t0 + 4_500);
    let a = sim.send(Source::Submit);
    let s = sim.run_reply(a, t0 + HOUR).unwrap();
    clean(&sim);
    assert_eq!(sim.expiries, 2);
    assert!(exact_reply(&sim, s).is_some(), "{:?}", sim.ops[&s].result);
    // startSession, then one refresh per expiry.
    assert!(sim.callbacks >= 3, "{} callbacks", sim.callbacks);
    sim.dispose();
    clean(&sim);
}

#[test]
fn scenario_5_a_hanging_access_token_and_a_429_do_not_block_abort_or_dispose() {
    let mut sim = Sim::new(5, Some(Profile::calm()), false);
    let a = sim.send(Source::Submit);
    sim.run_reply(a, HOUR).unwrap();
    // The token expires and the app's accessToken never answers.
    sim.expire_at(sim.now + 1);
    sim.run_until(sim.now + 2);
    sim.script_cb.push_back(Behave::Hang);
    let b = sim.send(Source::Submit);
    sim.run_until(sim.now + 30_000);
    assert!(!sim.is_done(b), "hanging in accessToken");
    // Stop still goes through (with a token of its own).
    let stop = sim.stop_generation();
    sim.run_until_done(stop, sim.now + HOUR);
    assert_eq!(sim.ops[&stop].result, Some(Ok(Done::Bool(true))));
    sim.abort(b);
    assert_eq!(sim.ops[&b].result, Some(Err(Error::Aborted)));
    // A stream whose refresh hangs is cancelled at once too.
    let c = sim.send(Source::Submit);
    let sc = sim.run_reply(c, sim.now + HOUR).unwrap();
    assert!(exact_reply(&sim, sc).is_some());
    sim.script_append.push_back((429, Some(60_000)));
    let d = sim.send(Source::Submit);
    sim.run_until(sim.now + 500);
    assert!(!sim.is_done(d), "waiting a minute for the rate limit");
    sim.dispose();
    clean(&sim);
    assert!(sim.is_done(d));
    assert_eq!(sim.ops[&d].result, Some(Err(Error::Aborted)));
    assert_eq!(sim.pending(), 0, "no timer, no connection after dispose");
    assert_eq!(sim.engine(|e| e.open_ops()), 0);
}

#[test]
fn scenario_6_watch_mode_does_not_tight_loop_on_quiet_or_settled_polls() {
    for settled in [false, true] {
        let mut sim = Sim::new(6, Some(Profile::calm()), false);
        set_timeout(&mut sim, 1);
        let a = sim.send(Source::Submit);
        sim.run_reply(a, HOUR).unwrap();
        clean(&sim);
        // The page reloads in watch mode on an idle session.
        sim.cfg.watch = true;
        sim.always_settled = settled;
        let w = sim.reload().expect("a watcher resumes an idle session");
        let from = sim.connect_times.len();
        let t0 = sim.now;
        sim.run_until(t0 + 600_000);
        clean(&sim);
        let times = sim.connect_times[from..].to_vec();
        if settled {
            assert!(sim.is_done(w), "a settled answer ends the watch");
            assert!(times.len() <= 2, "{times:?}");
        } else {
            assert!(!sim.is_done(w), "still watching");
            // Long polls of 1 s, the quiet ones spaced out up to 5 s.
            assert!(
                (50..=150).contains(&times.len()),
                "{} connections",
                times.len()
            );
            for win in times.windows(4) {
                assert!(win[3] - win[0] >= 1_000, "a burst of connections: {win:?}");
            }
            sim.abort(w);
        }
        sim.dispose();
        clean(&sim);
    }
}

#[test]
fn scenario_7_a_message_typed_offline_is_delivered_once_when_the_network_returns() {
    let mut sim = Sim::new(7, Some(Profile::calm()), false);
    let a = sim.send(Source::Submit);
    sim.run_reply(a, HOUR).unwrap();
    sim.go_offline();
    let landed = sim.landed_parts.len();
    let b = sim.send(Source::Submit);
    sim.run_until(sim.now + 90_000);
    assert!(!sim.is_done(b), "the send waits for the network");
    assert_eq!(
        sim.landed_parts.len(),
        landed,
        "nothing reached the server offline"
    );
    sim.go_online();
    let sb = sim.run_reply(b, sim.now + HOUR).expect("the send resolved");
    clean(&sim);
    assert!(exact_reply(&sim, sb).is_some(), "{:?}", turns_of(&sim, sb));
    let part = sim.ops[&b].part.clone().expect("it was appended");
    let times = sim.landed_parts.iter().filter(|p| **p == part).count();
    assert_eq!(times, 1, "the message reached the server once");
    sim.dispose();
    clean(&sim);
}

#[test]
fn scenario_8_offline_past_the_wait_fails_the_send_with_a_network_error() {
    let mut sim = Sim::new(8, Some(Profile::calm()), false);
    let a = sim.send(Source::Submit);
    sim.run_reply(a, HOUR).unwrap();
    sim.go_offline();
    let b = sim.send(Source::Submit);
    sim.run_until_done(b, sim.now + driver::OFFLINE_WAIT_MS + 1_000);
    match &sim.ops[&b].result {
        Some(Err(e)) => assert_eq!(e.code(), "NETWORK", "{e:?}"),
        other => panic!("the send ended with {other:?}"),
    }
    sim.go_online();
    sim.dispose();
    clean(&sim);
}

#[test]
fn scenario_9_a_callback_that_blips_is_tried_again() {
    let mut sim = Sim::new(9, Some(Profile::calm()), false);
    // startSession rejects twice with fetch's TypeError, then answers.
    sim.script_cb.push_back(Behave::Blip);
    sim.script_cb.push_back(Behave::Blip);
    let a = sim.send(Source::Submit);
    let sa = sim.run_reply(a, HOUR).expect("the send resolved");
    clean(&sim);
    assert!(exact_reply(&sim, sa).is_some());
    assert!(sim.callbacks >= 3, "{} callbacks", sim.callbacks);
    // Throwing (not a blip) ends the next send at once.
    sim.expire_at(sim.now + 1);
    sim.run_until(sim.now + 2);
    sim.script_cb.push_back(Behave::Throw);
    let b = sim.send(Source::Submit);
    sim.run_until_done(b, sim.now + HOUR);
    match &sim.ops[&b].result {
        Some(Err(e)) => assert_eq!(e.code(), "CALLBACK", "{e:?}"),
        other => panic!("the send ended with {other:?}"),
    }
    sim.dispose();
    clean(&sim);
}
