//! The runner over a fake host: a virtual clock, requests the test answers
//! (or never does), bodies it feeds, one thread and a deterministic
//! executor (`LocalPool`). Covers the races: an interrupt while an effect is
//! out, an effect resolving in the same turn as an interrupt, an abort
//! handed from a send to its stream, and the deadlines.

use super::*;
use crate::engine::Source;
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::Context;
use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;
use std::collections::VecDeque;

/// What the app threw, in the fake: a number.
type V = u32;

#[derive(Default)]
struct BodyState {
    chunks: RefCell<VecDeque<Vec<u8>>>,
    ended: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

#[derive(Clone, Default)]
struct Body(Rc<BodyState>);

impl Body {
    fn push(&self, bytes: &str) {
        self.0
            .chunks
            .borrow_mut()
            .push_back(bytes.as_bytes().to_vec());
        if let Some(w) = self.0.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

#[derive(Clone)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    text: String,
    body: Option<Body>,
}

fn ok(text: &str) -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        text: text.into(),
        body: None,
    }
}

/// A request made through the fake: the test answers it.
struct Req {
    url: String,
    headers: String,
    body: Option<String>,
    answer: RefCell<Option<Result<Response, Failure<V>>>>,
    waker: RefCell<Option<Waker>>,
    /// Its future was dropped before it took an answer (aborted).
    aborted: Cell<bool>,
    /// Its future took the answer.
    taken: Cell<bool>,
}

impl Req {
    fn answer(&self, r: Result<Response, Failure<V>>) {
        *self.answer.borrow_mut() = Some(r);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The future of one request; dropping it unanswered aborts it.
struct Fetch(Rc<Req>);

impl Future for Fetch {
    type Output = Result<Response, Failure<V>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.answer.borrow_mut().take() {
            Some(r) => {
                self.0.taken.set(true);
                Poll::Ready(r)
            }
            None => {
                *self.0.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        if !self.0.taken.get() {
            self.0.aborted.set(true);
        }
    }
}

/// A pending callback the test answers.
struct Pending<T> {
    answer: RefCell<Option<T>>,
    waker: RefCell<Option<Waker>>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            answer: RefCell::new(None),
            waker: RefCell::new(None),
        }
    }
}

impl<T> Pending<T> {
    fn answer(&self, v: T) {
        *self.answer.borrow_mut() = Some(v);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

fn wait_for<T: 'static>(p: Rc<Pending<T>>) -> Task<T> {
    Box::pin(poll_fn(move |cx| match p.answer.borrow_mut().take() {
        Some(v) => Poll::Ready(v),
        None => {
            *p.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }))
}

/// What `accessToken` answers.
type TokenAnswer = Result<Option<String>, Failure<V>>;

#[derive(Default)]
struct World {
    now: Cell<u64>,
    timers: RefCell<Vec<(u64, Waker)>>,
    requests: RefCell<Vec<Rc<Req>>>,
    /// `accessToken`: answered at once with this, or left pending when
    /// `None`.
    token: RefCell<Option<TokenAnswer>>,
    token_calls: RefCell<Vec<Rc<Pending<TokenAnswer>>>>,
    /// `accessToken`'s next answers, before `token`.
    token_script: RefCell<VecDeque<TokenAnswer>>,
    /// `startSession`'s answers, in order (then `Misuse`).
    start_script: RefCell<VecDeque<Result<Started, Failure<V>>>>,
    start_calls: Cell<u32>,
    /// `navigator.onLine` is false.
    offline: Cell<bool>,
    /// Whom an `online` event wakes.
    online_wakers: RefCell<Vec<Waker>>,
    spawner: RefCell<Option<LocalSpawner>>,
    changes: RefCell<Vec<String>>,
    events: RefCell<Vec<String>>,
}

#[derive(Clone, Default)]
struct Fake(Rc<World>);

impl Host for Fake {
    type Value = V;
    type Response = Response;
    type Body = Body;

    fn now(&self) -> u64 {
        self.0.now.get()
    }

    fn sleep(&self, ms: u64) -> Task<()> {
        let world = self.0.clone();
        let at = world.now.get() + ms;
        Box::pin(poll_fn(move |cx| {
            if world.now.get() >= at {
                Poll::Ready(())
            } else {
                world.timers.borrow_mut().push((at, cx.waker().clone()));
                Poll::Pending
            }
        }))
    }

    fn spawn(&self, task: Task<()>) {
        let spawner = self.0.spawner.borrow().clone().expect("a spawner");
        spawner.spawn_local(task).expect("spawned");
    }

    fn access_token(&self, _chat_id: &str) -> Answer<Option<String>, V> {
        let p = Rc::new(Pending::default());
        let scripted = self.0.token_script.borrow_mut().pop_front();
        if let Some(v) = scripted.or_else(|| self.0.token.borrow().clone()) {
            p.answer(v);
        }
        self.0.token_calls.borrow_mut().push(p.clone());
        wait_for(p)
    }

    fn start_session(&self, _chat_id: &str) -> Answer<Started, V> {
        self.0.start_calls.set(self.0.start_calls.get() + 1);
        let next = self.0.start_script.borrow_mut().pop_front();
        let r = next.unwrap_or_else(|| Err(Failure::Misuse("no startSession".into())));
        Box::pin(async move { r })
    }

    fn base_url(&self, _endpoint: Endpoint, _chat_id: &str) -> Result<String, Failure<V>> {
        Ok("https://api.test/".into())
    }

    fn fetch(&self, request: &Request<'_>) -> Answer<Response, V> {
        let req = Rc::new(Req {
            url: request.url.into(),
            headers: request.headers.into(),
            body: request.body.map(Into::into),
            answer: RefCell::new(None),
            waker: RefCell::new(None),
            aborted: Cell::new(false),
            taken: Cell::new(false),
        });
        self.0.requests.borrow_mut().push(req.clone());
        Box::pin(Fetch(req))
    }

    fn status(&self, response: &Response) -> u16 {
        response.status
    }

    fn header(&self, response: &Response, name: &str) -> Option<String> {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn text(&self, response: Response) -> Task<String> {
        Box::pin(async move { response.text })
    }

    fn body(&self, response: Response) -> Option<Body> {
        response.body
    }

    fn read(&self, body: &Body) -> Answer<Option<Vec<u8>>, V> {
        let b = body.0.clone();
        Box::pin(poll_fn(move |cx| {
            let mut chunks = b.chunks.borrow_mut();
            if !chunks.is_empty() {
                let mut all = Vec::new();
                for c in chunks.drain(..) {
                    all.extend_from_slice(&c);
                }
                return Poll::Ready(Ok(Some(all)));
            }
            if b.ended.get() {
                return Poll::Ready(Ok(None));
            }
            *b.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }))
    }

    fn session_changed(&self, chat_id: &str, _session: Option<&SessionState>) {
        self.0.changes.borrow_mut().push(chat_id.into());
    }

    fn event(&self, json: &str, _thrown: &dyn Fn(OpId) -> Option<V>) {
        self.0.events.borrow_mut().push(json.into());
    }

    fn online(&self) -> bool {
        !self.0.offline.get()
    }

    fn until_online(&self) -> Task<()> {
        let world = self.0.clone();
        let mut registered = false;
        Box::pin(poll_fn(move |cx| {
            // Resolves at the next `online` event, not at once.
            if registered && !world.offline.get() {
                return Poll::Ready(());
            }
            registered = true;
            world.online_wakers.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }))
    }
}

/// A runner over a fake, and the executor that drives it.
struct Bench {
    pool: LocalPool,
    fake: Fake,
    runner: Runner<Fake>,
}

/// The output of a task the test spawned, once it has one.
type Slot<T> = Rc<RefCell<Option<T>>>;

impl Bench {
    fn new() -> Bench {
        let pool = LocalPool::new();
        let fake = Fake::default();
        fake.0.now.set(1_000_000);
        *fake.0.spawner.borrow_mut() = Some(pool.spawner());
        *fake.0.token.borrow_mut() = Some(Ok(Some("tok".into())));
        let cfg = EngineConfig {
            watch: false,
            timeout_seconds: 120,
            headers: Vec::new(),
            has_start_session: false,
            wants_events: true,
        };
        let runner = Runner::new(fake.clone(), cfg, Vec::new(), 42);
        Bench { pool, fake, runner }
    }

    /// Spawns `f`; its output lands in the slot returned.
    fn spawn<T: 'static>(&self, f: impl Future<Output = T> + 'static) -> Slot<T> {
        let slot = Rc::new(RefCell::new(None));
        let out = slot.clone();
        self.pool
            .spawner()
            .spawn_local(async move {
                let v = f.await;
                *out.borrow_mut() = Some(v);
            })
            .expect("spawned");
        slot
    }

    /// Runs everything that can run without time passing.
    fn settle(&mut self) {
        self.pool.run_until_stalled();
    }

    /// Lets `ms` of virtual time pass, firing timers in order.
    fn advance(&mut self, ms: u64) {
        let end = self.fake.0.now.get() + ms;
        loop {
            self.settle();
            let next = self
                .fake
                .0
                .timers
                .borrow()
                .iter()
                .map(|(at, _)| *at)
                .filter(|at| *at <= end)
                .min();
            let Some(at) = next else { break };
            self.fake.0.now.set(at.max(self.fake.0.now.get()));
            let due: Vec<Waker> = {
                let mut timers = self.fake.0.timers.borrow_mut();
                let (due, later): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(t, _)| *t <= at);
                *timers = later;
                due.into_iter().map(|(_, w)| w).collect()
            };
            for w in due {
                w.wake();
            }
        }
        self.fake.0.now.set(end);
        self.settle();
    }

    fn request(&self, i: usize) -> Rc<Req> {
        self.fake.0.requests.borrow()[i].clone()
    }

    fn requests(&self) -> usize {
        self.fake.0.requests.borrow().len()
    }

    /// A send of a user message on chat `c`, driven in a task; its target
    /// and its result.
    fn send(&self, c: &str) -> (Target, Slot<Result<Step, Failed<V>>>) {
        let payload = r#"{"kind":"message","payload":{"chatId":"c","trigger":"submit-message"}}"#;
        let op = self
            .runner
            .with(|e| e.send(c, payload.into(), Source::Submit, None, true));
        let target = Target::new(op);
        let runner = self.runner.clone();
        let t = target.clone();
        let slot = self.spawn(async move { runner.send(op, &t).await });
        (target, slot)
    }
}

impl Bench {
    /// A send on chat `c` whose append is answered with `.in` seq 1: its
    /// reply's stream.
    fn streamed_send(&mut self, c: &str) -> OpId {
        let (_, sent) = self.send(c);
        self.settle();
        let n = self.requests();
        self.request(n - 1).answer(Ok(ok(r#"{"seq":1}"#)));
        self.settle();
        let Ok(Step::Done(Done::Stream(stream))) = take(&sent) else {
            panic!("a stream")
        };
        stream
    }

    /// Stream `op` read to its end in a task (every pull must succeed):
    /// the chunks it gave.
    fn read_all(&self, op: OpId) -> Slot<Vec<String>> {
        let runner = self.runner.clone();
        self.spawn(async move {
            let mut all = Vec::new();
            while let Some(c) = runner.next(op).await.expect("no error") {
                all.push(c);
            }
            all
        })
    }

    /// Stream `op` read to its end, its connection answered with
    /// [`reply`]: the chunks it gave.
    fn read_reply(&mut self, op: OpId) -> Vec<String> {
        let chunks = self.read_all(op);
        self.settle();
        let body = Body::default();
        self.request(self.requests() - 1)
            .answer(Ok(streaming(&body)));
        self.settle();
        body.push(&reply());
        self.settle();
        take(&chunks)
    }

    /// Chat `c`'s session.
    fn session(&self, c: &str) -> SessionState {
        self.runner
            .read(|e| e.session(c).cloned())
            .expect("a session")
    }

    /// The next pull of stream `op`, in a task.
    fn next_of(&self, op: OpId) -> Slot<Result<Option<String>, Failed<V>>> {
        let runner = self.runner.clone();
        self.spawn(async move { runner.next(op).await })
    }
}

/// How many times mark `name` was hit since the marks were last taken
/// (taking them all).
fn hits(name: &str) -> u64 {
    crate::marks::take()
        .into_iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, c)| c)
        .sum()
}

fn take<T>(slot: &Slot<T>) -> T {
    slot.borrow_mut().take().expect("the task finished")
}

fn part_id(headers: &str) -> Option<String> {
    let at = headers.find("X-Part-Id")?;
    let rest = &headers[at..];
    let v = rest.split('"').nth(2)?;
    Some(v.into())
}

/// One `batch` SSE event with a text delta (`.out` seq 0) and the
/// turn-complete of `.in` seq 1 (`.out` seq 1).
fn reply() -> String {
    let data =
        r#"{\"data\":{\"type\":\"text-delta\",\"id\":\"m\",\"delta\":\"hi\"},\"id\":\"p1\"}"#;
    let rec = format!(r#"{{"seq_num":0,"timestamp":1,"body":"{data}","headers":[]}}"#);
    let tc = r#"{"seq_num":1,"timestamp":2,"body":"","headers":[["trigger-control","turn-complete"],["session-in-event-id","1"]]}"#;
    format!("id: 0,1,0\nevent: batch\ndata: {{\"records\":[{rec},{tc}]}}\n\n")
}

fn streaming(body: &Body) -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        text: String::new(),
        body: Some(body.clone()),
    }
}

#[test]
fn a_send_appends_then_streams_its_reply() {
    let mut b = Bench::new();
    let (target, sent) = b.send("c");
    b.settle();
    assert_eq!(b.requests(), 1);
    let append = b.request(0);
    assert_eq!(
        append.url,
        "https://api.test/realtime/v1/sessions/c/in/append"
    );
    assert!(append.body.as_deref().unwrap().contains("submit-message"));
    assert!(append.headers.contains("Bearer tok"));
    append.answer(Ok(ok(r#"{"seq":1}"#)));
    b.settle();
    let Ok(Step::Done(Done::Stream(stream))) = take(&sent) else {
        panic!("a stream")
    };
    assert_eq!(target.get(), stream, "the abort now goes to the stream");

    let runner = b.runner.clone();
    let chunks = b.spawn(async move {
        let mut all = Vec::new();
        while let Some(c) = runner.next(stream).await.expect("no error") {
            all.push(c);
        }
        all
    });
    b.settle();
    let connect = b.request(1);
    assert_eq!(connect.url, "https://api.test/realtime/v1/sessions/c/out");
    assert!(connect.body.is_none());
    let body = Body::default();
    connect.answer(Ok(streaming(&body)));
    b.settle();
    body.push(&reply());
    b.settle();
    let chunks = take(&chunks);
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].contains("\"hi\""), "{chunks:?}");
    assert_eq!(b.runner.open_io(), [], "nothing is left behind");
    assert!(!b.fake.0.changes.borrow().is_empty());
}

#[test]
fn an_interrupt_while_the_append_is_out_aborts_it() {
    let mut b = Bench::new();
    let (target, sent) = b.send("c");
    b.settle();
    let append = b.request(0);
    assert!(!append.aborted.get());
    b.runner.abort(target.get());
    b.settle();
    assert!(append.aborted.get(), "the request in flight was aborted");
    let f = failure(&sent);
    assert_eq!(f.error, Error::Aborted);
    // Its fate unknown, the engine sends a stop on its own (detached).
    assert!(b.requests() >= 2);
    let stop = b.request(1);
    assert!(
        stop.body.as_deref().unwrap().contains("stop"),
        "{:?}",
        stop.body
    );
}

#[test]
fn an_interrupt_wins_over_an_answer_in_the_same_turn() {
    let mut b = Bench::new();
    let (target, sent) = b.send("c");
    b.settle();
    let append = b.request(0);
    // The answer and the abort arrive before the runner runs again.
    append.answer(Ok(ok(r#"{"seq":1}"#)));
    b.runner.abort(target.get());
    b.settle();
    let f = failure(&sent);
    assert_eq!(f.error, Error::Aborted);
    assert!(!append.taken.get() && append.aborted.get());
}

#[test]
fn an_abort_after_the_send_goes_to_its_stream() {
    let mut b = Bench::new();
    let (target, sent) = b.send("c");
    b.settle();
    let send_op = target.get();
    b.request(0).answer(Ok(ok(r#"{"seq":1}"#)));
    b.settle();
    let Ok(Step::Done(Done::Stream(stream))) = take(&sent) else {
        panic!("a stream")
    };
    let runner = b.runner.clone();
    let next = b.spawn(async move { runner.next(stream).await });
    b.settle();
    let connect = b.request(1);
    let body = Body::default();
    connect.answer(Ok(streaming(&body)));
    b.settle();
    assert!(take_none(&next), "the stream waits for bytes");
    // The app's signal fires: the stream's operation is aborted, not the
    // (finished) send's.
    assert_ne!(target.get(), send_op);
    b.runner.abort(target.get());
    b.settle();
    assert!(take(&next).is_ok(), "the stream ends");
    assert!(connect.aborted.get() || Rc::strong_count(&body.0) == 1);
    // The reply was the stream's own turn: the agent is stopped (a detached
    // stop on `.in`), and once that is answered nothing is left.
    assert_eq!(b.requests(), 3);
    let stop = b.request(2);
    assert!(stop.body.as_deref().unwrap().contains("stop"));
    stop.answer(Ok(ok(r#"{"seq":2}"#)));
    b.settle();
    assert_eq!(b.runner.open_io(), []);
}

impl Bench {
    /// The append was sent a second time, with the first one's part id;
    /// answered, the send resolves to its reply's stream.
    fn second_try_resolves(&mut self, first: &Req, sent: &Slot<Result<Step, Failed<V>>>) {
        assert_eq!(self.requests(), 2);
        let second = self.request(1);
        assert!(part_id(&first.headers).is_some());
        assert_eq!(part_id(&second.headers), part_id(&first.headers));
        second.answer(Ok(ok(r#"{"seq":1}"#)));
        self.settle();
        assert!(matches!(take(sent), Ok(Step::Done(Done::Stream(_)))));
    }
}

fn take_none<T>(slot: &Slot<T>) -> bool {
    slot.borrow().is_none()
}

/// What a task that was to fail failed with.
fn failure<T>(slot: &Slot<Result<T, Failed<V>>>) -> Failed<V> {
    match take(slot) {
        Err(f) => f,
        Ok(_) => panic!("the task was to fail, and it succeeded"),
    }
}

#[test]
fn an_interrupt_before_any_effect_cuts_the_first_one() {
    let mut b = Bench::new();
    let payload = r#"{"kind":"message","payload":{}}"#;
    let op = b
        .runner
        .with(|e| e.send("c", payload.into(), Source::Submit, None, false));
    b.runner.abort(op);
    let runner = b.runner.clone();
    let r = b.spawn(async move { runner.drive(op).await });
    b.settle();
    assert_eq!(take(&r).map_err(|f| f.error), Err(Error::Aborted));
    assert!(
        b.fake.0.token_calls.borrow().is_empty() || b.requests() == 0,
        "nothing was sent"
    );
}

#[test]
fn an_append_that_never_answers_is_retried_after_the_deadline() {
    let mut b = Bench::new();
    let (_, sent) = b.send("c");
    b.settle();
    let first = b.request(0);
    b.advance(REQUEST_DEADLINE_MS - 1);
    assert!(!first.aborted.get());
    assert_eq!(b.requests(), 1);
    b.advance(1);
    assert!(first.aborted.get(), "abandoned at the deadline");
    // The engine retries it (after its backoff) with the same part id.
    b.advance(10_000);
    b.second_try_resolves(&first, &sent);
}

#[test]
fn an_append_that_never_answers_at_all_ends_in_a_timeout() {
    let mut b = Bench::new();
    let (_, sent) = b.send("c");
    b.advance(10 * REQUEST_DEADLINE_MS);
    let f = failure(&sent);
    assert_eq!(f.error.code(), "TIMEOUT", "{:?}", f.error);
    assert!(f.error.message().contains("30 s"));
    let n = b.requests();
    assert!(n >= 2, "retried first: {n}");
    assert!((0..n).all(|i| b.request(i).aborted.get() || b.request(i).taken.get()));
}

#[test]
fn a_callback_that_never_settles_times_out() {
    let mut b = Bench::new();
    *b.fake.0.token.borrow_mut() = None;
    let (_, sent) = b.send("c");
    b.advance(CALLBACK_DEADLINE_MS - 1);
    assert!(take_none(&sent));
    b.advance(1);
    let f = failure(&sent);
    assert_eq!(f.error.code(), "TIMEOUT");
    assert!(
        f.error.message().contains("accessToken"),
        "{}",
        f.error.message()
    );
    assert_eq!(b.requests(), 0);
}

#[test]
fn a_stream_that_stalls_keeps_its_connection_and_reads_on() {
    let mut b = Bench::new();
    let stream = b.streamed_send("c");
    let next = b.next_of(stream);
    b.settle();
    let body = Body::default();
    b.request(1).answer(Ok(streaming(&body)));
    // Quiet for a while, but less than the stream's silence limit.
    b.advance(20_000);
    assert!(take_none(&next));
    assert_eq!(b.requests(), 2, "no reconnect yet");
    body.push(&reply());
    b.settle();
    let chunks = take(&next).expect("chunks");
    assert!(chunks.is_some_and(|c| c.contains("\"hi\"")));
}

#[test]
fn the_wake_threshold_is_thirty_seconds() {
    assert!(!wake_is_forced(29_999));
    assert!(wake_is_forced(30_000));
}

// ----- callbacks that blip, sends that wait offline --------------------------

fn transient(value: V) -> TokenAnswer {
    Err(Failure::Transient {
        message: "Failed to fetch".into(),
        value,
    })
}

impl Bench {
    /// The browser goes offline (`navigator.onLine` false).
    fn go_offline(&self) {
        self.fake.0.offline.set(true);
    }

    /// The browser is back: `navigator.onLine` true, then `online`.
    fn go_online(&mut self) {
        self.fake.0.offline.set(false);
        let wakers: Vec<Waker> = self.fake.0.online_wakers.borrow_mut().drain(..).collect();
        for w in wakers {
            w.wake();
        }
        self.settle();
    }

    fn token_calls(&self) -> usize {
        self.fake.0.token_calls.borrow().len()
    }

    fn events_of(&self, kind: &str) -> Vec<String> {
        let tag = format!(r#""type":"{kind}""#);
        let events = self.fake.0.events.borrow();
        events
            .iter()
            .filter(|e| e.contains(&tag))
            .cloned()
            .collect()
    }
}

#[test]
fn a_transient_access_token_rejection_is_retried_and_the_send_goes_on() {
    let mut b = Bench::new();
    b.fake
        .0
        .token_script
        .borrow_mut()
        .extend([transient(1), transient(2)]);
    let (_, sent) = b.send("c");
    b.settle();
    assert_eq!(b.token_calls(), 1);
    assert_eq!(b.requests(), 0, "no append without a token");
    // Retried after its backoff (100 ms, then 200 ms, at most).
    b.advance(100);
    assert_eq!(b.token_calls(), 2);
    b.advance(200);
    assert_eq!(b.token_calls(), 3, "the third call resolves");
    assert_eq!(b.requests(), 1);
    let append = b.request(0);
    assert!(append.headers.contains("Bearer tok"));
    append.answer(Ok(ok(r#"{"seq":1}"#)));
    b.settle();
    assert!(matches!(take(&sent), Ok(Step::Done(Done::Stream(_)))));
    assert!(b.events_of("message-send-failed").is_empty());
}

#[test]
/// What the callback threw comes back as it was, and it is not retried.
fn a_non_transient_rejection_ends_the_send_at_once_without_a_retry() {
    let mut b = Bench::new();
    *b.fake.0.token.borrow_mut() = Some(Err(Failure::Thrown {
        message: "not signed in".into(),
        value: 3,
    }));
    let (_, sent) = b.send("c");
    b.settle();
    let f = failure(&sent);
    assert_eq!(f.error, Error::Callback("not signed in".into()));
    assert_eq!(f.thrown, Some(3));
    b.advance(10_000);
    assert_eq!(b.token_calls(), 1, "never called again");
}

#[test]
fn a_transient_rejection_that_keeps_failing_ends_after_five_retries() {
    let mut b = Bench::new();
    *b.fake.0.token.borrow_mut() = Some(transient(9));
    let (_, sent) = b.send("c");
    // 100 + 200 + 400 + 800 + 1,600 ms at most.
    b.advance(3_100);
    let f = failure(&sent);
    assert_eq!(f.error, Error::Callback("Failed to fetch".into()));
    assert_eq!(f.thrown, Some(9), "the app's last rejection, as it was");
    assert_eq!(
        b.token_calls(),
        1 + crate::engine::CALLBACK_RETRIES as usize
    );
    b.advance(10_000);
    assert_eq!(b.token_calls(), 6);
    assert_eq!(b.requests(), 0);
}

#[test]
fn a_transient_start_session_rejection_is_retried() {
    let mut b = Bench::new();
    b.runner.with(|e| e.config_mut().has_start_session = true);
    b.fake.0.start_script.borrow_mut().extend([
        Err(Failure::Transient {
            message: "flaky".into(),
            value: 4,
        }),
        Ok(Started {
            token: Some("fresh".into()),
            pending_version: false,
        }),
    ]);
    let (_, sent) = b.send("c");
    b.settle();
    assert_eq!(b.fake.0.start_calls.get(), 1);
    b.advance(100);
    assert_eq!(b.fake.0.start_calls.get(), 2);
    assert_eq!(b.requests(), 1);
    assert!(b.request(0).headers.contains("Bearer fresh"));
    b.request(0).answer(Ok(ok(r#"{"seq":1}"#)));
    b.settle();
    assert!(matches!(take(&sent), Ok(Step::Done(Done::Stream(_)))));
}

#[test]
fn a_stream_whose_token_refresh_blips_goes_on_with_the_fresh_token() {
    let mut b = Bench::new();
    let stream = b.streamed_send("c");
    let chunks = b.read_all(stream);
    b.settle();
    // The token expired: `.out` refuses it, the refresh blips once.
    b.fake
        .0
        .token_script
        .borrow_mut()
        .extend([transient(5), Ok(Some("tok2".into()))]);
    let calls = b.token_calls();
    b.request(1).answer(Ok(Response {
        status: 401,
        headers: Vec::new(),
        text: String::new(),
        body: None,
    }));
    b.settle();
    assert_eq!(b.token_calls(), calls + 1);
    assert_eq!(b.requests(), 2, "no reconnect before a token");
    b.advance(100);
    assert_eq!(b.token_calls(), calls + 2);
    assert_eq!(b.requests(), 3);
    let again = b.request(2);
    assert!(again.headers.contains("Bearer tok2"), "{}", again.headers);
    let body = Body::default();
    again.answer(Ok(streaming(&body)));
    b.settle();
    body.push(&reply());
    b.settle();
    let chunks = take(&chunks);
    assert!(chunks.concat().contains("\"hi\""), "{chunks:?}");
}

#[test]
fn a_stream_whose_token_refresh_keeps_blipping_errors_after_the_bound() {
    let mut b = Bench::new();
    let stream = b.streamed_send("c");
    let next = b.next_of(stream);
    b.settle();
    *b.fake.0.token.borrow_mut() = Some(transient(8));
    let calls = b.token_calls();
    b.request(1).answer(Ok(Response {
        status: 403,
        headers: Vec::new(),
        text: String::new(),
        body: None,
    }));
    b.advance(3_100);
    let f = failure(&next);
    assert_eq!(f.error, Error::Callback("Failed to fetch".into()));
    assert_eq!(f.thrown, Some(8));
    assert_eq!(b.token_calls(), calls + 6);
    assert_eq!(b.events_of("stream-error").len(), 1);
}

#[test]
fn a_send_while_offline_waits_for_online_and_appends_once() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(180_000));
    b.go_offline();
    let (_, sent) = b.send("c");
    b.advance(60_000);
    assert_eq!(b.requests(), 0, "nothing is sent while offline");
    assert!(take_none(&sent));
    let queued = b.events_of("send-queued-offline");
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert!(queued[0].contains(r#""source":"submit-message""#));
    assert!(queued[0].contains(r#""partId":""#));
    b.go_online();
    assert_eq!(b.requests(), 1);
    let resumed = b.events_of("send-resumed-online");
    assert_eq!(resumed.len(), 1);
    assert!(resumed[0].contains(r#""waitedMs":60000"#), "{resumed:?}");
    b.request(0).answer(Ok(ok(r#"{"seq":1}"#)));
    b.settle();
    assert!(matches!(take(&sent), Ok(Step::Done(Done::Stream(_)))));
    assert_eq!(b.events_of("message-sent").len(), 1);
}

#[test]
fn an_append_that_fails_offline_is_sent_again_with_its_part_id_once_online() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(180_000));
    let (_, sent) = b.send("c");
    b.settle();
    let first = b.request(0);
    // The network goes; the browser then reports offline.
    b.go_offline();
    first.answer(Err(Failure::Network("Failed to fetch".into())));
    b.advance(120_000);
    assert_eq!(b.requests(), 1, "no retry while offline");
    assert_eq!(b.events_of("send-queued-offline").len(), 1);
    b.go_online();
    b.second_try_resolves(&first, &sent);
}

#[test]
fn a_send_offline_past_its_bound_fails_with_a_network_error() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(5_000));
    b.go_offline();
    let (_, sent) = b.send("c");
    b.advance(4_999);
    assert!(take_none(&sent));
    b.advance(1);
    let f = failure(&sent);
    assert_eq!(f.error.code(), "NETWORK", "{:?}", f.error);
    assert!(f.error.message().contains("offline"), "{}", f.error);
    assert_eq!(b.requests(), 0);
    assert_eq!(b.events_of("message-send-failed").len(), 1);
    assert_eq!(b.runner.open_io(), []);
}

#[test]
fn a_send_waiting_offline_ends_at_once_on_abort_and_on_dispose() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(180_000));
    b.go_offline();
    let (target, sent) = b.send("c");
    let (_, other) = b.send("d");
    b.settle();
    b.runner.abort(target.get());
    b.settle();
    let f = failure(&sent);
    assert_eq!(f.error, Error::Aborted);
    assert!(take_none(&other));
    b.runner.dispose();
    b.settle();
    let f = failure(&other);
    assert_eq!(f.error, Error::Aborted);
    b.go_online();
    b.advance(10_000);
    assert_eq!(b.requests(), 0, "nothing was sent after all");
}

#[test]
fn without_an_offline_wait_a_send_fails_as_before() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(0));
    b.go_offline();
    let (_, sent) = b.send("c");
    b.settle();
    assert_eq!(b.requests(), 1, "tried at once");
    assert!(b.events_of("send-queued-offline").is_empty());
    drop(sent);
}

#[test]
fn a_session_start_while_offline_waits_quietly_for_online() {
    let mut b = Bench::new();
    b.runner.with(|e| {
        e.config_mut().has_start_session = true;
        e.set_offline_wait(180_000);
    });
    b.fake.0.start_script.borrow_mut().push_back(Ok(Started {
        token: Some("s".into()),
        pending_version: false,
    }));
    b.go_offline();
    let op = b.runner.with(|e| e.start("c"));
    let runner = b.runner.clone();
    let r = b.spawn(async move { runner.drive(op).await });
    b.advance(30_000);
    assert_eq!(b.fake.0.start_calls.get(), 0, "startSession waits too");
    assert!(take_none(&r));
    b.go_online();
    assert_eq!(b.fake.0.start_calls.get(), 1);
    assert!(matches!(take(&r), Ok(Step::Done(Done::Session(_)))));
    assert!(
        b.events_of("send-queued-offline").is_empty()
            && b.events_of("send-resumed-online").is_empty(),
        "no message, no event"
    );
}

#[test]
fn a_stream_offline_waits_for_online_without_spending_its_retries() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(180_000));
    let stream = b.streamed_send("c");
    let chunks = b.read_all(stream);
    b.settle();
    // The network goes while the stream connects, then the browser says
    // offline: far more failures than the retry budget allows, all while
    // offline, and the stream does not give up.
    b.go_offline();
    b.request(1)
        .answer(Err(Failure::Network("Failed to fetch".into())));
    b.advance(120_000);
    assert_eq!(b.requests(), 2, "no reconnect while offline");
    assert!(take_none(&chunks));
    b.go_online();
    assert_eq!(b.requests(), 3, "reconnected once online");
    let body = Body::default();
    b.request(2).answer(Ok(streaming(&body)));
    b.settle();
    body.push(&reply());
    b.settle();
    let chunks = take(&chunks);
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].contains("\"hi\""), "{chunks:?}");
    assert_eq!(b.runner.open_io(), []);
}

#[test]
fn a_stream_offline_past_the_bound_spends_its_retries_as_before() {
    let mut b = Bench::new();
    b.runner.with(|e| e.set_offline_wait(5_000));
    let stream = b.streamed_send("c");
    let runner = b.runner.clone();
    let end = b.spawn(async move {
        loop {
            match runner.next(stream).await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    });
    b.settle();
    b.go_offline();
    let mut n = 1;
    // Every connection fails; past the 5 s bound the failures count, and
    // the stream ends with a network error once its budget is spent.
    while take_none(&end) && n < 200 {
        if b.requests() > n {
            b.request(n)
                .answer(Err(Failure::Network("Failed to fetch".into())));
            n += 1;
        }
        b.advance(1_000);
    }
    let f = failure(&end);
    assert_eq!(f.error.code(), "NETWORK", "{:?}", f.error);
    assert!(n > 2, "it retried after the bound ({n} connections)");
    assert!(n < 200, "it gave up");
}

#[test]
fn a_head_start_reports_its_post_as_a_send_with_its_duration() {
    let mut b = Bench::new();
    let body = r#"{"chatId":"c","headStartMessages":[]}"#;
    let op = b.runner.with(|e| {
        e.head_start(
            "c",
            "https://app.example/chat".into(),
            body.into(),
            Some("m1".into()),
        )
    });
    let runner = b.runner.clone();
    let first = b.spawn(async move { runner.drive(op).await.map(|_| ()) });
    b.settle();
    assert_eq!(b.requests(), 1);
    let req = b.request(0);
    assert_eq!(req.url, "https://app.example/chat");
    assert_eq!(req.body.as_deref(), Some(body));
    // The route answers 250 ms after the post went out.
    b.advance(250);
    let reply = Body::default();
    reply.push("data: {\"type\":\"text-delta\",\"id\":\"t\",\"delta\":\"h\"}\n\n");
    req.answer(Ok(Response {
        status: 200,
        headers: vec![("X-Trigger-Chat-Access-Token", "hs-tok".into())],
        text: String::new(),
        body: Some(reply),
    }));
    b.settle();
    assert!(take(&first).is_ok());
    let events = b.fake.0.events.borrow();
    let sent: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("\"message-sent\""))
        .collect();
    assert_eq!(sent.len(), 1, "{events:?}");
    for field in [
        "\"messageId\":\"m1\"",
        "\"source\":\"head-start\"",
        "\"durationMs\":250",
        &format!("\"bodyBytes\":{}", body.len()),
    ] {
        assert!(sent[0].contains(field), "{field} in {}", sent[0]);
    }
    assert!(!sent[0].contains("partId"), "{}", sent[0]);
}

/// A stream opened before a gate was armed reads the end of the turn the
/// gate waits for (its boundary answers `.in` seq 1): with the gate's
/// stopped seq at `stopped`, whether the gate is still armed afterwards.
fn gate_after_an_older_stream_reads_turn_one(stopped: u64) -> bool {
    let mut b = Bench::new();
    let stream = b.streamed_send("c");
    // The gate is armed after the stream opened (as a stop that landed in
    // a session made again arms it), for the turn of `.in` seq `stopped`.
    b.runner.with(|e| {
        let mut s = e.session("c").cloned().expect("a session");
        s.skip_to_turn_complete = true;
        s.superseded_input_seq = Some(stopped);
        e.set_session("c", s);
    });
    assert_eq!(
        b.read_reply(stream).len(),
        1,
        "the stream shows its own turn"
    );
    let s = b.session("c");
    assert_eq!(
        s.last_event_id.as_deref(),
        Some("1"),
        "the cursor is past the turn's end"
    );
    s.skip_to_turn_complete
}

#[test]
fn a_turn_end_that_answers_the_stopped_seq_clears_the_gate() {
    // Seeds 609148681 and 609948633: the cursor moved past the stopped
    // turn's end, which no later stream could read; a gate left armed
    // failed the next reply.
    assert!(!gate_after_an_older_stream_reads_turn_one(1));
}

#[test]
fn a_turn_end_before_the_stopped_seq_keeps_the_gate() {
    assert!(gate_after_an_older_stream_reads_turn_one(2));
}

/// A reload's resume of a chat whose stored gate still waits for a stopped
/// turn's end: refused while no send after the stop is in flight (the
/// stopped turn's rest is all it could read), taken while one is (its
/// stream reads past the gate to its own reply). The soaks do not reach
/// the refusal (docs/simulation.md, "Coverage marks"); it is pinned here.
#[test]
fn a_resume_behind_a_gate_is_refused_unless_a_later_send_is_in_flight() {
    let _ = crate::marks::take();
    let b = Bench::new();
    let stored = |active| SessionState {
        public_access_token: "tok".into(),
        last_event_id: Some("4".into()),
        is_streaming: Some(true),
        skip_to_turn_complete: true,
        active_input_seq: active,
        ..SessionState::default()
    };
    let refused = b.runner.with(|e| {
        e.set_session("c", stored(None));
        e.reconnect("c", false)
    });
    assert!(refused.is_none(), "nothing of ours to read past the gate");
    assert_eq!(hits("reconnect-refused-behind-gate"), 1);
    let taken = b.runner.with(|e| {
        e.set_session("d", stored(Some(5)));
        e.reconnect("d", false)
    });
    assert!(taken.is_some(), "the send after the stop is resumed");
    assert_eq!(hits("reconnect-refused-behind-gate"), 0);
}

/// A watcher (watch mode, idle chat) is handed the first pull of what its
/// connection reads (`sse`); then, before the app pulls again, a send
/// meets a 404 and a start makes the session again. The bench, the
/// watcher, and the app's events so far.
fn watcher_when_the_session_is_made_again(sse: &str) -> (Bench, OpId, usize) {
    let _ = crate::marks::take();
    let mut b = Bench::new();
    b.runner.with(|e| {
        e.config_mut().has_start_session = true;
        e.config_mut().watch = true;
        e.set_session(
            "c",
            SessionState {
                public_access_token: "tok".into(),
                is_streaming: Some(false),
                ..SessionState::default()
            },
        );
    });
    let watcher = b
        .runner
        .with(|e| e.reconnect("c", false))
        .expect("a watcher");
    let first = b.next_of(watcher);
    b.settle();
    let body = Body::default();
    b.request(b.requests() - 1).answer(Ok(streaming(&body)));
    b.settle();
    body.push(sse);
    b.settle();
    assert!(matches!(take(&first), Ok(Some(_))), "the turn's text first");
    b.fake.0.start_script.borrow_mut().push_back(Ok(Started {
        token: Some("new".into()),
        pending_version: false,
    }));
    let (_, _sent) = b.send("c");
    b.settle();
    let append = b.request(b.requests() - 1);
    assert!(append.url.contains("/in/"), "{}", append.url);
    append.answer(Ok(Response {
        status: 404,
        ..ok("{}")
    }));
    b.settle();
    assert_eq!(b.fake.0.start_calls.get(), 1, "the session is made again");
    let events = b.fake.0.events.borrow().len();
    (b, watcher, events)
}

/// What a watcher read of the old session and had not handed on when a
/// send made the session again: the turn's end is reported as the old
/// session's (the cursor and the new session's turns stay untouched), and
/// its `pending-version` is dropped. The soaks do not reach this (their
/// app pulls at once); it is pinned here.
#[test]
fn what_a_watcher_read_of_a_session_since_made_again_is_not_applied() {
    // The turn's text and end, then a `pending-version`, in one read.
    let pv = r#"{"seq_num":2,"timestamp":3,"body":"","headers":[["trigger-control","pending-version"]]}"#;
    let sse = format!(
        "{}id: 0,2,0\nevent: batch\ndata: {{\"records\":[{pv}]}}\n\n",
        reply()
    );
    let (mut b, watcher, events_before) = watcher_when_the_session_is_made_again(&sse);
    assert_eq!(hits("session-remade-stream-restarts"), 1);
    let second = b.next_of(watcher);
    b.settle();
    assert!(
        second.borrow().is_none(),
        "the watcher reads the new session now: its pull waits"
    );
    assert_eq!(hits("event-of-a-remade-session-dropped"), 1);
    let s = b.session("c");
    assert_eq!(s.public_access_token, "new");
    assert_eq!(
        s.last_event_id, None,
        "the old session's cursor is not the new one's"
    );
    let late: Vec<String> = b.fake.0.events.borrow()[events_before..].to_vec();
    assert!(
        !late.iter().any(|e| e.contains("run-pending-version")),
        "{late:?}"
    );
}

/// A watcher inside a turn when the session is made again: that turn went
/// with the old session, so the watcher ends with an error instead of
/// reading the new session from its start (the soaks pass with this
/// condition taken out: docs/simulation.md, "Left open by the mutations").
#[test]
fn a_watcher_inside_a_turn_when_the_session_is_made_again_ends_with_an_error() {
    // The turn's text, no end yet.
    let data =
        r#"{\"data\":{\"type\":\"text-delta\",\"id\":\"m\",\"delta\":\"hi\"},\"id\":\"p1\"}"#;
    let rec = format!(r#"{{"seq_num":0,"timestamp":1,"body":"{data}","headers":[]}}"#);
    let sse = format!("id: 0,0,0\nevent: batch\ndata: {{\"records\":[{rec}]}}\n\n");
    let (mut b, watcher, _) = watcher_when_the_session_is_made_again(&sse);
    assert_eq!(hits("session-remade-stream-lost"), 1);
    let second = b.next_of(watcher);
    b.settle();
    let Some(Err(failed)) = second.borrow_mut().take() else {
        panic!("the watcher ends with an error")
    };
    assert!(
        failed.error.message().contains("made again"),
        "{:?}",
        failed.error
    );
}

/// Two sends resolve out of order: the later one's (`.in` seq 2) first,
/// its stream refused for good (401 after a refresh), then the earlier
/// one's (seq 1), whose stream reads its turn's end. No turn is in flight
/// then, but seq 2's turn was never seen to end. A `stopGeneration`
/// answered with `.in` seq `stop_seq`: the gate it leaves, if any.
fn gate_after_a_stop_behind_a_refused_reply(stop_seq: u64) -> Option<u64> {
    let _ = crate::marks::take();
    let mut b = Bench::new();
    let (_, first) = b.send("c");
    b.settle();
    let (_, second) = b.send("c");
    b.settle();
    assert_eq!(b.requests(), 2, "both appends are out");
    b.request(1).answer(Ok(ok(r#"{"seq":2}"#)));
    b.settle();
    let Ok(Step::Done(Done::Stream(refused))) = take(&second) else {
        panic!("a stream")
    };
    let failed = b.next_of(refused);
    b.settle();
    let unauthorized = || Response {
        status: 401,
        ..ok("")
    };
    b.request(2).answer(Ok(unauthorized()));
    b.settle();
    b.request(3).answer(Ok(unauthorized()));
    b.settle();
    assert!(take(&failed).is_err(), "refused for good");
    assert_eq!(hits("reply-refused-for-good"), 1);
    b.request(0).answer(Ok(ok(r#"{"seq":1}"#)));
    b.settle();
    let Ok(Step::Done(Done::Stream(answered))) = take(&first) else {
        panic!("a stream")
    };
    assert_eq!(
        b.read_reply(answered).len(),
        1,
        "seq 1's turn shows and ends"
    );
    let idle = b.session("c");
    assert!(!idle.turn_outstanding(), "{idle:?}");
    let stop = b
        .runner
        .with(|e| e.send("c", r#"{"kind":"stop"}"#.into(), Source::Stop, None, false));
    let runner = b.runner.clone();
    let stopped = b.spawn(async move { runner.send(stop, &Target::new(stop)).await });
    b.settle();
    b.request(5)
        .answer(Ok(ok(&format!(r#"{{"seq":{stop_seq}}}"#))));
    b.settle();
    assert!(matches!(take(&stopped), Ok(Step::Done(Done::Bool(true)))));
    let s = b.session("c");
    let gated = s.skip_to_turn_complete.then_some(s.superseded_input_seq);
    assert_eq!(
        hits("stop-gates-turn-refused-for-good"),
        u64::from(gated.is_some())
    );
    gated.flatten()
}

#[test]
fn a_stop_after_a_refused_reply_s_message_gates_its_turn() {
    // Seed 876297315: the stop cut seq 2's turn, still running at the
    // agent, and nothing gated it.
    assert_eq!(gate_after_a_stop_behind_a_refused_reply(3), Some(2));
}

#[test]
fn a_stop_before_a_refused_reply_s_message_gates_nothing() {
    assert_eq!(gate_after_a_stop_behind_a_refused_reply(0), None);
}
