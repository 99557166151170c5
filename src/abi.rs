//! The module's exports: [`Core`]'s methods as plain wasm functions, called
//! by `pkg/core.js` (the other half of this boundary).
//!
//! No generated glue: numbers cross as wasm numbers, flags as numbers
//! (nonzero for true), strings as UTF-8 in the module's memory. Each
//! transport owns an [`Instance`] (its `Core`, an input buffer and an output
//! buffer), known to JavaScript by its address. For a call with string
//! arguments, JavaScript asks `tc_in` for room, writes the strings one after
//! another into the input buffer and passes their byte lengths (`-1` for
//! none). A call with a string result leaves it in the output buffer and
//! returns its length (`-1` for none); JavaScript reads it where `tc_out`
//! says. Measured against wasm-bindgen's glue in the README's Decisions.
//!
//! The two `unsafe` blocks here turn an address back into its instance (to
//! borrow it, and once to free it). The addresses come from `tc_new` and are
//! used by `pkg/core.js` alone, which frees one only when its `Core` is
//! collected; a null address does nothing. The exports are safe functions
//! taking addresses (clippy's `not_unsafe_ptr_arg_deref`, allowed below)
//! because their only caller is JavaScript, which has no `unsafe` to mark;
//! that contract is this paragraph.

#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::engine::OpId;
use crate::facade::Core;
use crate::prelude::*;

/// One transport: its engine and the two buffers strings cross in.
pub struct Instance {
    core: Core,
    input: Vec<u8>,
    out: String,
}

fn instance<'a>(p: *mut Instance) -> Option<&'a mut Instance> {
    // SAFETY: `p` is null or an address `tc_new` returned and `tc_free` has
    // not freed (see the module's documentation); the module is single
    // threaded and never calls out while an instance is borrowed.
    unsafe { p.as_mut() }
}

/// The string arguments of one call, read in order from the input buffer.
struct Args<'a> {
    bytes: &'a [u8],
}

impl Args<'_> {
    /// The next argument, `len` bytes long; `None` for a negative length.
    fn opt(&mut self, len: i32) -> Option<String> {
        let len = usize::try_from(len).ok()?;
        let (this, rest) = self
            .bytes
            .split_at_checked(len)
            .unwrap_or((self.bytes, &[]));
        self.bytes = rest;
        // TextEncoder writes valid UTF-8; anything else is replaced, never
        // trusted.
        Some(crate::text::lossy(this))
    }

    fn str(&mut self, len: i32) -> String {
        self.opt(len).unwrap_or_default()
    }
}

/// Runs `f` with the instance's core and the arguments in its input buffer.
fn with<R>(p: *mut Instance, f: impl FnOnce(&mut Core, Args<'_>) -> R) -> Option<R> {
    let i = instance(p)?;
    Some(f(&mut i.core, Args { bytes: &i.input }))
}

/// Leaves `s` in the instance's output buffer; returns its length, or -1.
fn give(p: *mut Instance, s: Option<String>) -> i32 {
    match (instance(p), s) {
        (Some(i), Some(s)) => {
            i.out = s;
            i32::try_from(i.out.len()).unwrap_or(-1)
        }
        _ => -1,
    }
}

#[no_mangle]
pub extern "C" fn tc_new(
    watch: u32,
    timeout_seconds: u32,
    has_start_session: u32,
    wants_events: u32,
    seed: f64,
    noise: f64,
) -> *mut Instance {
    let core = Core::new(
        watch != 0,
        timeout_seconds,
        has_start_session != 0,
        wants_events != 0,
        seed,
        noise,
    );
    Box::into_raw(Box::new(Instance {
        core,
        input: Vec::new(),
        out: String::new(),
    }))
}

#[no_mangle]
pub extern "C" fn tc_free(p: *mut Instance) {
    if !p.is_null() {
        // SAFETY: as in `instance`; JavaScript frees an instance once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Room for `len` bytes of arguments: the input buffer's address.
#[no_mangle]
pub extern "C" fn tc_in(p: *mut Instance, len: usize) -> *mut u8 {
    match instance(p) {
        Some(i) => {
            if i.input.len() < len {
                i.input.resize(len, 0);
            }
            i.input.as_mut_ptr()
        }
        None => core::ptr::null_mut(),
    }
}

/// Where the last string result is.
#[no_mangle]
pub extern "C" fn tc_out(p: *mut Instance) -> *const u8 {
    instance(p).map_or(core::ptr::null(), |i| i.out.as_ptr())
}

#[no_mangle]
pub extern "C" fn tc_header(p: *mut Instance, name: i32, value: i32) {
    with(p, |c, mut a| c.header(a.str(name), a.str(value)));
}

#[no_mangle]
pub extern "C" fn tc_callbacks(p: *mut Instance, has_start_session: u32, wants_events: u32) {
    with(p, |c, _| {
        c.callbacks(has_start_session != 0, wants_events != 0)
    });
}

#[no_mangle]
pub extern "C" fn tc_now(p: *mut Instance, ms: f64) {
    with(p, |c, _| c.now(ms));
}

#[no_mangle]
pub extern "C" fn tc_session(p: *mut Instance, chat_id: i32) -> i32 {
    let s = with(p, |c, mut a| c.session(&a.str(chat_id))).flatten();
    give(p, s)
}

/// `is_streaming`: 0 false, 1 true, anything else absent; the two sequence
/// numbers are absent when negative.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn tc_set_session(
    p: *mut Instance,
    chat_id: i32,
    token: i32,
    last_event_id: i32,
    is_streaming: u32,
    skip_to_turn_complete: u32,
    superseded_input_seq: f64,
    active_input_seq: f64,
    closed: u32,
    closed_reason: i32,
    quiet: u32,
) {
    let seq = |n: f64| (n >= 0.0).then_some(n);
    with(p, |c, mut a| {
        let chat_id = a.str(chat_id);
        let token = a.str(token);
        let last_event_id = a.opt(last_event_id);
        let closed_reason = a.opt(closed_reason);
        c.set_session(
            &chat_id,
            token,
            last_event_id,
            (is_streaming < 2).then_some(is_streaming == 1),
            skip_to_turn_complete != 0,
            seq(superseded_input_seq),
            seq(active_input_seq),
            closed != 0,
            closed_reason,
            quiet != 0,
        )
    });
}

#[no_mangle]
pub extern "C" fn tc_chat(p: *mut Instance, kind: u32, chat_id: i32, text: i32) {
    with(p, |c, mut a| {
        let chat_id = a.str(chat_id);
        c.chat(kind, &chat_id, &a.str(text))
    });
}

#[no_mangle]
pub extern "C" fn tc_send(
    p: *mut Instance,
    chat_id: i32,
    payload: i32,
    source: u32,
    message_id: i32,
    stop_on_abort: u32,
) -> OpId {
    with(p, |c, mut a| {
        let chat_id = a.str(chat_id);
        let payload = a.str(payload);
        c.send(
            &chat_id,
            payload,
            source,
            a.opt(message_id),
            stop_on_abort != 0,
        )
    })
    .unwrap_or(0)
}

#[no_mangle]
pub extern "C" fn tc_head_start(
    p: *mut Instance,
    chat_id: i32,
    url: i32,
    payload: i32,
    message_id: i32,
) -> OpId {
    with(p, |c, mut a| {
        let chat_id = a.str(chat_id);
        let url = a.str(url);
        let payload = a.str(payload);
        c.head_start(&chat_id, url, payload, a.opt(message_id))
    })
    .unwrap_or(0)
}

/// The stream's operation, or -1 when there is nothing to resume.
#[no_mangle]
pub extern "C" fn tc_reconnect(p: *mut Instance, chat_id: i32, stop_on_abort: u32) -> f64 {
    with(p, |c, mut a| {
        c.reconnect(&a.str(chat_id), stop_on_abort != 0)
    })
    .flatten()
    .map_or(-1.0, f64::from)
}

#[no_mangle]
pub extern "C" fn tc_op(p: *mut Instance, kind: u32, op: OpId, flag: u32) {
    with(p, |c, _| c.op(kind, op, flag != 0));
}

#[no_mangle]
pub extern "C" fn tc_poll(p: *mut Instance, op: OpId) -> i32 {
    let s = with(p, |c, _| c.poll(op));
    give(p, s)
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn tc_outcome(
    p: *mut Instance,
    op: OpId,
    kind: u32,
    status: u32,
    a: i32,
    b: i32,
    c: i32,
    flag: u32,
) {
    with(p, |core, mut args| {
        let a = args.opt(a);
        let b = args.opt(b);
        let c = args.opt(c);
        let status = u16::try_from(status).unwrap_or(0);
        core.outcome(op, kind, status, a, b, c, flag != 0)
    });
}

/// `len` bytes of a body, in the input buffer.
#[no_mangle]
pub extern "C" fn tc_bytes(p: *mut Instance, op: OpId, len: usize) {
    with(p, |c, a| c.bytes(op, a.bytes.get(..len).unwrap_or(a.bytes)));
}

#[no_mangle]
pub extern "C" fn tc_notice(p: *mut Instance) -> i32 {
    let s = with(p, |c, _| c.notice()).flatten();
    give(p, s)
}
