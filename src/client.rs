//! One client: a handle the Perl thread talks to, and one task on the
//! runtime that owns the connection and answers every request.
//!
//! Requests reach the task through an unbounded channel, in call order.
//! The task keeps that order all the way to the socket: commands are pushed
//! into one `FuturesUnordered` in arrival order (it polls new futures in
//! push order), and commands that arrive while there is no connection wait
//! in a queue that is released in order once one exists. The connection
//! driver (`connection.rs`) keeps a FIFO of in-flight replies, so a reply
//! whose caller gave up (timeout) is dropped there and never reaches the
//! next caller.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use crate::backoff::{self, Jitter};
use crate::completion::{event, Completions};
use crate::config::Config;
use crate::connection::{Connection, Driver, Expect, Reply};
use crate::deadline;
use crate::error::{CoreError, Reason};
use crate::pubsub::{Kind, Sink};
use crate::resp::{self, Value};
use crate::runtime::{self, Runtime};
use crate::session::{exec_outcome, Answer, Effect, ExecOutcome, SessionChange};
use crate::transport;

/// What the Perl side asks of a client.
#[derive(Debug)]
pub enum Request {
    Connect {
        id: u64,
    },
    /// One command, or a batch of them (a pipeline) answered as one array.
    /// `packed` is built straight from the caller's bytes: one copy.
    Command(Command),
    /// Commands issued together, each its own request (auto-pipelining).
    Many(Vec<Command>),
}

#[derive(Debug)]
pub struct Command {
    id: u64,
    name: String,
    packed: Vec<u8>,
    /// One reply, a batch's array, or a pub/sub command's confirmations.
    expect: Expect,
    limit: Option<Duration>,
    /// By position in the batch (0 for a single command): SELECT, CLIENT
    /// SETNAME, AUTH (remembered for reconnects once the server accepts
    /// them), EXEC, DISCARD.
    effects: Vec<(usize, Effect)>,
    /// Only on the connection of this generation (a transaction whose WATCH
    /// was sent on it: WATCH does not survive a reconnect); fails if that
    /// one is gone.
    pin: Option<u64>,
}

/// Per-command deadline choice.
#[derive(Debug, Clone, Copy)]
pub enum Timeout {
    /// request_timeout, or the blocking-command table.
    Default,
    /// No deadline.
    Never,
    After(Duration),
}

/// Turns of a client's loop between voluntary yields to the runtime.
const YIELD_EVERY: u32 = 64;

/// Request ids are unique in the process, not per Perl interpreter, so a
/// completion can never be taken for another interpreter's request.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

pub fn next_request_id() -> u64 {
    NEXT_REQUEST.fetch_add(1, Ordering::Relaxed)
}

/// The Perl thread's side of a client.
#[derive(Debug)]
pub struct ClientHandle {
    pub pid: u32,
    cfg: Arc<Config>,
    requests: mpsc::UnboundedSender<Request>,
    /// Keeps the runtime this client's task lives on.
    _runtime: Arc<Runtime>,
}

impl ClientHandle {
    pub fn new(owner: u64, client_id: u64, cfg: Config) -> Result<ClientHandle, CoreError> {
        let runtime = runtime::current(owner)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let cfg = Arc::new(cfg);
        let task = ClientTask::new(
            client_id,
            Arc::clone(&cfg),
            Arc::clone(&runtime.completions),
        );
        // `unconstrained`: tokio's co-operative budget would otherwise make
        // some first polls return Pending and reorder commands.
        let guarded = report_panic(
            client_id,
            Arc::clone(&runtime.completions),
            tokio::task::unconstrained(task.run(rx)),
        );
        runtime.handle.spawn(guarded);
        Ok(ClientHandle {
            pid: runtime.pid,
            cfg,
            requests: tx,
            _runtime: runtime,
        })
    }

    /// Queues a command: its deadline is settled and it is packed here, on
    /// the caller's thread, straight from the caller's bytes.
    pub fn command(&self, id: u64, timeout: Timeout, args: &[&[u8]]) -> Result<(), CoreError> {
        self.send(Request::Command(self.single(id, timeout, args)))
    }

    /// Queues several commands, each with its own id and reply, as one
    /// request: nothing else of this client comes between them.
    pub fn commands(&self, ids: &[u64], commands: &[Vec<&[u8]>]) -> Result<(), CoreError> {
        let many = ids
            .iter()
            .zip(commands)
            .map(|(id, args)| self.single(*id, Timeout::Default, args))
            .collect();
        self.send(Request::Many(many))
    }

    /// Queues a batch (a pipeline, or MULTI … EXEC): written in one piece,
    /// answered with one array of every reply in order.
    pub fn batch(
        &self,
        id: u64,
        timeout: Timeout,
        commands: &[Vec<&[u8]>],
        pin: Option<u64>,
    ) -> Result<(), CoreError> {
        if commands.is_empty() {
            return Err(CoreError::Invalid("empty batch".to_owned()));
        }
        let limit = match timeout {
            Timeout::Default => deadline::batch_timeout(&self.cfg, commands),
            Timeout::Never => None,
            Timeout::After(limit) => Some(limit),
        };
        let size = commands
            .iter()
            .flatten()
            .map(|a| a.len() + 16)
            .sum::<usize>();
        let mut packed = Vec::with_capacity(size + 16 * commands.len());
        let mut effects = Vec::new();
        for (index, args) in commands.iter().enumerate() {
            resp::pack(&mut packed, args);
            if let Some(effect) = Effect::from_args(args) {
                effects.push((index, effect));
            }
        }
        self.send(Request::Command(Command {
            id,
            name: format!("a batch of {} commands", commands.len()),
            packed,
            expect: Expect::Batch(commands.len()),
            limit,
            effects,
            pin,
        }))
    }

    /// Queues SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE or an UNSUBSCRIBE naming its
    /// channels: answered once the server confirmed each one.
    pub fn pubsub(&self, id: u64, args: &[&[u8]]) -> Result<(), CoreError> {
        let kind = args
            .first()
            .and_then(|name| Kind::of_command(name))
            .ok_or_else(|| CoreError::Invalid("not a subscribe command".to_owned()))?;
        if args.len() < 2 {
            return Err(CoreError::Invalid("no channel given".to_owned()));
        }
        let mut command = self.single(id, Timeout::Default, args);
        command.expect = Expect::PubSub(kind, args.len() - 1);
        self.send(Request::Command(command))
    }

    fn single(&self, id: u64, timeout: Timeout, args: &[&[u8]]) -> Command {
        let limit = match timeout {
            Timeout::Default => deadline::reply_timeout(&self.cfg, args),
            Timeout::Never => None,
            Timeout::After(limit) => Some(limit),
        };
        let mut packed = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        resp::pack(&mut packed, args);
        Command {
            id,
            name: command_name(args),
            packed,
            expect: Expect::One,
            limit,
            effects: Effect::from_args(args)
                .map(|e| (0, e))
                .into_iter()
                .collect(),
            pin: None,
        }
    }

    pub fn send(&self, request: Request) -> Result<(), CoreError> {
        self.requests
            .send(request)
            .map_err(|_| CoreError::Disconnected("client task has stopped".to_owned()))
    }
}

/// Runs a client's task; if it panics, Perl is told (a FAILED event), so
/// the client's futures fail instead of hanging.
fn report_panic(
    client_id: u64,
    out: Arc<Completions>,
    task: impl std::future::Future<Output = ()> + Send,
) -> impl std::future::Future<Output = ()> + Send {
    std::panic::AssertUnwindSafe(task)
        .catch_unwind()
        .map(move |outcome| {
            if outcome.is_err() {
                out.event(
                    client_id,
                    event::FAILED,
                    Some(&CoreError::Internal(
                        "internal error: client task panicked".to_owned(),
                    )),
                );
            }
        })
}

type CommandFuture = Pin<Box<dyn std::future::Future<Output = Done> + Send>>;

/// A command's outcome, and what it means for the session state.
struct Done {
    id: u64,
    result: Result<Value, CoreError>,
    batch: bool,
    /// A SUBSCRIBE-like request (counted in `pubsub_inflight`).
    pubsub: bool,
    effects: Vec<(usize, Effect)>,
    /// A reconnect's re-subscription: on which connection, and what.
    replay: Option<Replay>,
    /// From the hand-over to the connection to the answer (None: never
    /// handed over).
    wire: Option<Duration>,
}

struct Replay {
    generation: u64,
    kind: Kind,
    names: Vec<Vec<u8>>,
}

/// The id of the requests a reconnect sends itself (ids start at 1).
const RESUBSCRIBE: u64 = 0;

/// Where a command gets its connection from.
enum Source {
    Ready(Connection),
    /// Released in order when a connection exists; dropped when none will.
    Wait(oneshot::Receiver<Result<Connection, CoreError>>),
}

/// A connection attempt in progress.
type Attempt = Pin<Box<dyn std::future::Future<Output = Opened> + Send>>;
type Opened = Result<(Connection, Driver), CoreError>;

enum Link {
    /// Never connected: the next command connects.
    Idle,
    Connecting(Attempt),
    Up {
        conn: Connection,
        driver: Driver,
    },
    /// Waiting before the next reconnect attempt.
    Backoff(Pin<Box<Sleep>>),
    /// Lost, and not reconnecting (reconnect off or attempts exhausted).
    Down,
}

enum LinkEvent {
    Opened(Opened),
    /// The connection ended, and why.
    Lost(CoreError),
    RetryNow,
}

async fn next_link_event(link: &mut Link) -> LinkEvent {
    match link {
        Link::Connecting(attempt) => LinkEvent::Opened(attempt.await),
        Link::Up { driver, .. } => LinkEvent::Lost(driver.await),
        Link::Backoff(sleep) => {
            sleep.await;
            LinkEvent::RetryNow
        }
        Link::Idle | Link::Down => std::future::pending().await,
    }
}

struct ClientTask {
    client_id: u64,
    cfg: Arc<Config>,
    out: Arc<Completions>,
    link: Link,
    /// Commands waiting for a connection, in arrival order.
    waiting: Vec<oneshot::Sender<Result<Connection, CoreError>>>,
    /// `connect` requests waiting for the current attempt.
    connect_ids: Vec<u64>,
    /// True while the current attempt is a reconnect (events differ).
    reconnecting: bool,
    failed_attempts: u32,
    ever_connected: bool,
    jitter: Jitter,
    inflight: FuturesUnordered<CommandFuture>,
    /// Session changes answered QUEUED, waiting for EXEC or DISCARD.
    queued: Vec<SessionChange>,
    /// Connections opened so far: the generation of the current one.
    generation: u64,
    /// Where pub/sub traffic goes; keeps the subscriptions to restore.
    sink: Sink,
    /// Subscriptions a reconnect is restoring, not yet confirmed, and
    /// whether one of them failed.
    resubscribing: usize,
    resubscribe_failed: bool,
    /// SUBSCRIBE-like requests not yet answered.
    pubsub_inflight: usize,
}

impl ClientTask {
    fn new(client_id: u64, cfg: Arc<Config>, out: Arc<Completions>) -> ClientTask {
        ClientTask {
            client_id,
            cfg,
            link: Link::Idle,
            waiting: Vec::new(),
            connect_ids: Vec::new(),
            reconnecting: false,
            failed_attempts: 0,
            ever_connected: false,
            jitter: Jitter::new(),
            inflight: FuturesUnordered::new(),
            queued: Vec::new(),
            generation: 0,
            sink: Sink::new(Arc::clone(&out), client_id),
            resubscribing: 0,
            resubscribe_failed: false,
            pubsub_inflight: 0,
            out,
        }
    }

    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        let mut batch = Vec::with_capacity(256);
        let mut turns = 0u32;
        loop {
            // `unconstrained` keeps tokio from yielding for us (which could
            // reorder first polls); yield here, between whole steps, so a
            // busy client cannot starve the others or the timers.
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(YIELD_EVERY) {
                tokio::task::yield_now().await;
            }
            let ClientTask { link, inflight, .. } = &mut self;
            tokio::select! {
                biased;
                n = requests.recv_many(&mut batch, 256) => {
                    if n == 0 {
                        break; // the handle is gone
                    }
                    for request in batch.drain(..) {
                        self.on_request(request);
                    }
                }
                Some(done) = inflight.next(), if !inflight.is_empty() => self.on_done(done),
                link_event = next_link_event(link) => self.on_link_event(link_event),
            }
        }
    }

    /// Settles what the command meant for the session first, then answers
    /// it: the options Perl keeps follow before its caller resumes.
    fn on_done(&mut self, mut done: Done) {
        if done.id == RESUBSCRIBE {
            return self.on_resubscribed(done.replay, done.result);
        }
        if done.pubsub {
            self.pubsub_inflight = self.pubsub_inflight.saturating_sub(1);
            // Confirmations may yet come: what the connection is subscribed
            // to is unknown, and under RESP2 a message could then be taken
            // for a reply. Start again from what was confirmed.
            if matches!(
                done.result,
                Err(CoreError::Timeout {
                    maybe_executed: true,
                    ..
                })
            ) {
                self.reset("a SUBSCRIBE-like command timed out");
            }
            // Answered with neither confirmations nor a refusal: QUEUED in
            // a MULTI the client did not know of. Its EXEC would subscribe
            // the connection behind everyone's back: reset it instead.
            if matches!(done.result, Ok(ref v) if !matches!(v, Value::Array(_))) {
                self.reset("a SUBSCRIBE-like command was queued inside MULTI");
                done.result = Err(CoreError::Protocol(
                    "a SUBSCRIBE-like command was queued inside a MULTI; \
                     the connection was reset (subscribe outside transactions)"
                        .to_owned(),
                ));
            }
        }
        for (index, effect) in done.effects {
            let item = match (&done.result, done.batch) {
                (Ok(Value::Array(replies)), true) => match replies.get(index) {
                    Some(reply) => Ok(reply),
                    None => continue,
                },
                (Ok(reply), _) => Ok(reply),
                (Err(err), _) => Err(err),
            };
            self.settle(effect, item);
        }
        if let Some(wire) = done.wire {
            self.out.timing(done.id, wire);
        }
        match &done.result {
            Ok(value) => self.out.reply(done.id, value),
            Err(err) => self.out.error(done.id, err),
        }
    }

    /// Sends the commands that restore the subscriptions on a new
    /// connection (straight to it: ahead of every command that waited).
    fn resubscribe(&mut self, conn: &Connection) {
        let replay = self.sink.subscriptions().replay();
        // (The generation is counted up right after this.)
        let generation = self.generation + 1;
        self.resubscribing = 0;
        self.resubscribe_failed = false;
        for (kind, names) in replay {
            let mut args: Vec<&[u8]> = vec![kind.word()];
            args.extend(names.iter().map(Vec::as_slice));
            let mut packed = Vec::new();
            resp::pack(&mut packed, &args);
            let reply = conn.send(packed, Expect::PubSub(kind, names.len()));
            let deadline = deadline_after(self.cfg.request_timeout);
            self.resubscribing += 1;
            self.inflight.push(Box::pin(async move {
                let result = await_reply(reply, deadline, "restoring the subscriptions").await;
                Done {
                    id: RESUBSCRIBE,
                    result,
                    batch: false,
                    pubsub: false,
                    effects: Vec::new(),
                    wire: None,
                    replay: Some(Replay {
                        generation,
                        kind,
                        names,
                    }),
                }
            }));
        }
    }

    /// One re-subscription answered. Names the server refused are
    /// forgotten (Perl hears of them as unsubscribed); a timeout resets
    /// the connection (what it is subscribed to is unknown); the rest of a
    /// lost connection is replayed on the next. RESUBSCRIBED once every
    /// one of this connection's succeeded.
    fn on_resubscribed(&mut self, replay: Option<Replay>, result: Result<Value, CoreError>) {
        let Some(replay) = replay else {
            return;
        };
        if replay.generation != self.generation {
            return; // an earlier connection's
        }
        self.resubscribing = self.resubscribing.saturating_sub(1);
        match result {
            Ok(_) => {}
            Err(err) => {
                self.resubscribe_failed = true;
                self.out.event(self.client_id, event::ERROR, Some(&err));
                match err {
                    CoreError::Redis { .. } => self.sink.drop_names(replay.kind, &replay.names),
                    CoreError::Timeout { .. } => {
                        self.reset("restoring the subscriptions timed out");
                    }
                    _ => {}
                }
            }
        }
        if self.resubscribing == 0 && !self.resubscribe_failed {
            self.out.event(self.client_id, event::RESUBSCRIBED, None);
        }
    }

    fn settle(&mut self, effect: Effect, result: Result<&Value, &CoreError>) {
        // A SELECT, AUTH or CLIENT SETNAME (or the EXEC of one) that timed
        // out may yet run: the connection's database or user is then
        // unknown, so it is dropped (and re-established as configured)
        // rather than left to serve commands in a state nobody knows.
        let timed_out = matches!(
            result,
            Err(CoreError::Timeout {
                maybe_executed: true,
                ..
            })
        );
        match (effect, result) {
            (Effect::Change(change), Ok(value)) => match SessionChange::answer(value) {
                Answer::Accepted => self.apply(change),
                Answer::Queued => self.queued.push(change),
                Answer::Other => {}
            },
            (Effect::Exec, Ok(value)) => {
                let queued = std::mem::take(&mut self.queued);
                if queued.is_empty() {
                    return;
                }
                match exec_outcome(value) {
                    ExecOutcome::Keep => queued.into_iter().for_each(|c| self.apply(c)),
                    ExecOutcome::Drop => {}
                    ExecOutcome::Unknown => self.reset(
                        "a transaction with SELECT, AUTH or CLIENT SETNAME had a failing command",
                    ),
                }
            }
            (Effect::Change(_), Err(_)) if timed_out => {
                self.reset("a SELECT, AUTH or CLIENT SETNAME timed out");
            }
            (Effect::Exec, Err(_)) if timed_out && !self.queued.is_empty() => {
                self.queued.clear();
                self.reset(
                    "the EXEC of a transaction with SELECT, AUTH or CLIENT SETNAME timed out",
                );
            }
            (Effect::Exec | Effect::Discard, _) => self.queued.clear(),
            (Effect::Change(_), Err(_)) => {}
        }
    }

    /// Makes a session change for the next handshake, and tells Perl.
    fn apply(&mut self, change: SessionChange) {
        self.out.session(self.client_id, &change);
        change.apply(Arc::make_mut(&mut self.cfg));
    }

    /// Drops a connection whose session state is unknown: the same events
    /// as a lost connection; then, with reconnect on, the usual reconnect,
    /// and without it, a fresh connection on next use (the client chose
    /// this drop, so it does not leave itself down).
    fn reset(&mut self, why: &str) {
        if !matches!(self.link, Link::Up { .. }) {
            return;
        }
        self.link = Link::Idle;
        self.on_lost(CoreError::Connection(
            Reason::Lost,
            format!("reset by the client: {why}, leaving the connection's state unknown"),
        ));
        if !self.cfg.reconnect {
            self.link = Link::Idle;
        }
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Connect { id } => self.on_connect_request(id),
            Request::Command(command) => self.on_command(command),
            Request::Many(commands) => commands.into_iter().for_each(|c| self.on_command(c)),
        }
    }

    fn on_connect_request(&mut self, id: u64) {
        match self.link {
            Link::Up { .. } => self.out.reply(id, &ok()),
            // Joins the attempt in progress, first connect or reconnect: it
            // succeeds or fails with that attempt.
            Link::Connecting(_) => self.connect_ids.push(id),
            // During a reconnect back-off: try now, within the same cycle
            // (the commands waiting for it keep waiting).
            Link::Backoff(_) => {
                self.connect_ids.push(id);
                self.start_attempt();
            }
            Link::Idle | Link::Down => {
                self.connect_ids.push(id);
                self.reconnecting = false;
                self.failed_attempts = 0;
                self.start_attempt();
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        let Command {
            id,
            name,
            packed,
            expect,
            limit,
            effects,
            pin,
        } = command;
        // A RESP2 connection that is (or is about to be) subscribed answers
        // nothing else, and its messages would be taken for replies. (Perl
        // refuses these first; this keeps the reply order safe regardless.)
        // (The lock on the subscriptions is taken only for RESP2.)
        if self.cfg.protocol == 2
            && !matches!(expect, Expect::PubSub(..))
            && (self.pubsub_inflight > 0 || !self.sink.subscriptions().is_empty())
        {
            self.out.error(
                id,
                &CoreError::Protocol(format!(
                    "{name}: the connection is in RESP2 pubsub mode (subscribed)"
                )),
            );
            return;
        }
        if let Some(wanted) = pin {
            if !matches!(self.link, Link::Up { .. }) || self.generation != wanted {
                let lost = CoreError::Connection(
                    Reason::Lost,
                    "the connection the transaction's WATCH was sent on is gone \
                     (WATCH does not survive a reconnect); nothing was sent"
                        .to_owned(),
                );
                self.out.error(id, &lost);
                return;
            }
        }
        let source = match &self.link {
            Link::Up { conn, .. } => Source::Ready(conn.clone()),
            Link::Down if !self.cfg.reconnect => {
                self.out.error(
                    id,
                    &CoreError::Disconnected(format!("not connected to {}", self.cfg.describe())),
                );
                return;
            }
            Link::Idle | Link::Down => {
                // First use connects; with reconnect on, a given-up client
                // starts a new cycle for new work.
                self.reconnecting = matches!(self.link, Link::Down);
                self.failed_attempts = 0;
                self.start_attempt();
                self.wait_slot()
            }
            Link::Connecting(_) | Link::Backoff(_) => self.wait_slot(),
        };
        let deadline = deadline_after(limit);
        if matches!(expect, Expect::PubSub(..)) {
            self.pubsub_inflight += 1; // until its Done
        }
        let observe = self.cfg.observe;
        let run = run_command(id, name, source, packed, expect, deadline, observe);
        self.inflight
            .push(Box::pin(run.map(move |(id, result, wire)| Done {
                id,
                result,
                batch: matches!(expect, Expect::Batch(_)),
                pubsub: matches!(expect, Expect::PubSub(..)),
                effects,
                replay: None,
                wire,
            })));
    }

    fn wait_slot(&mut self) -> Source {
        let (tx, rx) = oneshot::channel();
        self.waiting.push(tx);
        Source::Wait(rx)
    }

    fn start_attempt(&mut self) {
        if self.cfg.observe {
            self.out
                .handshake(self.client_id, &transport::handshake_commands(&self.cfg));
        }
        let cfg = Arc::clone(&self.cfg);
        let sink = self.sink.clone();
        self.link = Link::Connecting(Box::pin(async move { transport::open(&cfg, sink).await }));
    }

    fn on_link_event(&mut self, link_event: LinkEvent) {
        match link_event {
            LinkEvent::Opened(Ok((conn, driver))) => {
                self.ever_connected = true;
                self.failed_attempts = 0;
                self.reconnecting = false;
                // Subscriptions first, before anything that waited.
                self.resubscribe(&conn);
                // In order: the waiters' wake-ups queue them in this order.
                for waiter in self.waiting.drain(..) {
                    let _ = waiter.send(Ok(conn.clone()));
                }
                self.link = Link::Up { conn, driver };
                self.generation += 1;
                self.out.connected(self.client_id, self.generation);
                for id in self.connect_ids.drain(..) {
                    self.out.reply(id, &ok());
                }
            }
            LinkEvent::Opened(Err(err)) => self.on_attempt_failed(err),
            LinkEvent::Lost(why) => {
                // Replies that came in just before the end (a reply and the
                // close in one read) are answered first: their effects
                // (EXEC, SELECT) and callers come before the drop, as on
                // the wire; what failed because of the drop comes after.
                let mut failed = Vec::new();
                while let Some(Some(done)) = self.inflight.next().now_or_never() {
                    if matches!(done.result, Err(CoreError::Connection(..))) {
                        failed.push(done);
                    } else {
                        self.on_done(done);
                    }
                }
                self.on_lost(why);
                failed.into_iter().for_each(|done| self.on_done(done));
            }
            LinkEvent::RetryNow => {
                self.out.event(self.client_id, event::RECONNECTING, None);
                self.start_attempt();
            }
        }
    }

    fn on_lost(&mut self, why: CoreError) {
        self.queued.clear(); // a new connection has no transaction
        if !self.cfg.reconnect {
            // Nothing will restore them: the client is unsubscribed.
            self.sink.subscriptions().clear();
        }
        let lost = CoreError::Connection(
            Reason::Lost,
            format!("connection to {} lost: {why}", self.cfg.describe()),
        );
        self.out
            .event(self.client_id, event::DISCONNECTED, Some(&lost));
        self.out.event(self.client_id, event::ERROR, Some(&lost));
        if self.cfg.reconnect {
            self.reconnecting = true;
            self.failed_attempts = 0;
            self.schedule_retry();
        } else {
            self.link = Link::Down;
        }
    }

    fn on_attempt_failed(&mut self, err: CoreError) {
        if !self.reconnecting {
            // A first connect (or explicit connect) fails its callers —
            // after on_error is told, as everywhere: events come before the
            // replies they explain (a caller resumed by its failure may look).
            self.out.event(self.client_id, event::ERROR, Some(&err));
            for id in self.connect_ids.drain(..) {
                self.out.error(id, &err);
            }
            self.fail_waiting(&err);
            // A client that never connected tries again on next use (the
            // server may simply not be up yet); one that lost its
            // connection without reconnect stays down until `connect`.
            self.link = if self.ever_connected {
                Link::Down
            } else {
                Link::Idle
            };
            return;
        }
        self.failed_attempts += 1;
        self.out.event(self.client_id, event::ERROR, Some(&err));
        // An explicit `connect` reports this attempt; the cycle goes on.
        for id in self.connect_ids.drain(..) {
            self.out.error(id, &err);
        }
        let max = self.cfg.backoff.max_attempts;
        if max != 0 && self.failed_attempts >= max {
            self.fail_waiting(&CoreError::Disconnected(format!(
                "gave up reconnecting after {} attempts: {err}",
                self.failed_attempts
            )));
            // Nothing will restore the subscriptions: they end (Perl's
            // subscription hears each name unsubscribed and closes).
            self.sink.drop_all();
            self.reconnecting = false;
            self.link = Link::Down;
        } else {
            self.schedule_retry();
        }
    }

    fn schedule_retry(&mut self) {
        let wait = backoff::delay(
            &self.cfg.backoff,
            self.failed_attempts + 1,
            &mut self.jitter,
        );
        self.link = Link::Backoff(Box::pin(tokio::time::sleep(wait)));
    }

    fn fail_waiting(&mut self, err: &CoreError) {
        for waiter in self.waiting.drain(..) {
            let _ = waiter.send(Err(err.clone()));
        }
    }
}

/// Waits for a connection, sends, waits for the reply — all within the
/// command's deadline. When observed, also gives the time from the
/// hand-over to the connection to the answer (the clock is read only then).
async fn run_command(
    id: u64,
    name: String,
    source: Source,
    packed: Vec<u8>,
    expect: Expect,
    deadline: Option<(Instant, Duration)>,
    observe: bool,
) -> (u64, Result<Value, CoreError>, Option<Duration>) {
    let conn = match source {
        Source::Ready(conn) => conn,
        Source::Wait(rx) => {
            let got = match deadline {
                None => Ok(rx.await),
                Some((at, _)) => tokio::time::timeout_at(at, rx).await,
            };
            match got {
                Ok(Ok(Ok(conn))) => conn,
                Ok(Ok(Err(err))) => return (id, Err(err), None),
                Ok(Err(_)) => {
                    let err = CoreError::Disconnected("not connected".to_owned());
                    return (id, Err(err), None);
                }
                Err(_) => return (id, Err(timed_out(&name, deadline, false)), None),
            }
        }
    };
    let sent = observe.then(Instant::now);
    let result = await_reply(conn.send(packed, expect), deadline, &name).await;
    (id, result, sent.map(|at| at.elapsed()))
}

/// When a wait of `limit` from now ends (with the limit, for messages). A
/// deadline past what the clock can hold means none.
fn deadline_after(limit: Option<Duration>) -> Option<(Instant, Duration)> {
    limit.and_then(|l| Some((Instant::now().checked_add(l)?, l)))
}

/// The reply to a request sent on a connection, within its deadline.
async fn await_reply(
    pending: oneshot::Receiver<Reply>,
    deadline: Option<(Instant, Duration)>,
    name: &str,
) -> Result<Value, CoreError> {
    let reply = match deadline {
        None => Ok(pending.await),
        Some((at, _)) => tokio::time::timeout_at(at, pending).await,
    };
    match reply {
        // A top-level error reply fails the request; nested ones (EXEC,
        // pipelines) stay in their slots. (A batch's answer is an array.)
        Ok(Ok(Ok(Value::Error(text)))) => Err(CoreError::from_server_message(
            String::from_utf8_lossy(&text).into_owned(),
        )),
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(err))) => Err(err),
        Ok(Err(_)) => Err(CoreError::Connection(
            Reason::Lost,
            "the connection ended before the reply".to_owned(),
        )),
        Err(_) => Err(timed_out(name, deadline, true)),
    }
}

fn timed_out(name: &str, deadline: Option<(Instant, Duration)>, maybe_executed: bool) -> CoreError {
    let limit = deadline.map(|(_, l)| l).unwrap_or_default();
    CoreError::Timeout {
        message: format!("{name} timed out after {}s", limit.as_secs_f64()),
        seconds: limit.as_secs_f64(),
        maybe_executed,
    }
}

fn ok() -> Value {
    Value::Bytes(b"OK".to_vec())
}

pub fn command_name(args: &[&[u8]]) -> String {
    args.first()
        .map(|name| String::from_utf8_lossy(name).to_ascii_uppercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_task_becomes_a_failed_event() {
        let out = Completions::new().expect("wake fd");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // keep the test output quiet
        rt.block_on(report_panic(7, Arc::clone(&out), async {
            panic!("boom");
        }));
        std::panic::set_hook(hook);
        let batch = out.take();
        assert_eq!(batch[0], b'V');
        assert_eq!(u64::from_le_bytes(batch[1..9].try_into().expect("id")), 7);
        assert_eq!(batch[9], event::FAILED);
    }

    #[test]
    fn a_task_that_ends_normally_reports_nothing() {
        let out = Completions::new().expect("wake fd");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(report_panic(7, Arc::clone(&out), async {}));
        assert!(out.take().is_empty());
    }
}
