//! The Rust transport (`src/web/`, the `#[wasm_bindgen]` class the package
//! wraps) in real browsers (headless Chromium and Firefox), against a
//! JavaScript fetch double. The cases live in `tests/js/web_cases.js`; each
//! test here runs one with a factory that builds a `Transport` from this
//! crate (the same code the shipped module is built from, with the `web`
//! feature).

#![cfg(all(target_arch = "wasm32", feature = "web"))]

use trigger_chat_wasm::web::Transport;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js/web_cases.js")]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = cases)]
    static CASES: JsValue;
}

/// Runs the named case with a factory that builds a transport.
async fn run(name: &str) {
    let make =
        Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(move |options: JsValue| {
            Transport::new(&options).map(JsValue::from)
        });
    let case = CASES
        .with(|c| js_sys::Reflect::get(c, &name.into()))
        .expect("case exists");
    let case: js_sys::Function = case.dyn_into().expect("case is a function");
    let promise: js_sys::Promise = case
        .call1(&JsValue::UNDEFINED, make.as_ref())
        .expect("case starts")
        .dyn_into()
        .expect("case returns a promise");
    if let Err(e) = JsFuture::from(promise).await {
        let msg = js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string());
        panic!("{name}: {}", msg.unwrap_or_else(|| format!("{e:?}")));
    }
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test]
            async fn $name() {
                run(stringify!($name)).await;
            }
        )*
    };
}

cases!(
    fetch_is_looked_up_at_call_time,
    append_request_shape,
    payloads_carry_the_newest_message_and_merged_metadata,
    out_request_shape,
    base_url_function_and_fetch_override,
    start_session_once_under_concurrent_sends,
    access_token_when_there_is_no_start_session,
    refresh_on_401_keeps_the_part_id,
    not_found_recreates_the_session,
    append_errors_have_the_api_error_shape,
    server_errors_on_append_are_retried,
    reconnect_to_stream_returns_null_when_nothing_to_resume,
    session_changes_are_reported,
    abort_posts_stop_and_ends_the_stream_cleanly,
    a_new_send_supersedes_the_running_stream,
    pending_message_does_not_cancel_the_live_stream,
    stop_generation_ends_the_stream_and_skips_the_stopped_turn,
    a_dropped_body_reconnects_from_the_cursor,
    split_bytes_decode_the_same,
    a_backlog_in_one_network_chunk_is_read_in_slices,
    a_malformed_stream_errors_with_what_was_wrong,
    invalid_options_throw_type_errors_naming_them,
    coming_back_online_reconnects_at_once_from_the_cursor,
    transient_callback_rejections_are_retried_others_fail_at_once,
    a_send_while_offline_waits_for_the_online_event,
    dispose_ends_open_streams,
    the_stored_cursor_moves_only_at_turn_boundaries,
    lifecycle_events_reach_on_event,
    events_go_under_the_newest_message_when_the_send_names_none,
    closed_sessions_are_final,
    callbacks_can_be_replaced_on_a_live_transport,
    seeded_cursors_and_the_supersede_gate,
    an_actions_metadata_is_merged_over_client_data,
    a_turn_complete_for_an_earlier_send_does_not_end_the_stream,
    a_run_waiting_for_its_deployment_is_reported,
);
