//! Table-driven tests of every action and transition, with a simulated clock.
//!
//! Each case is a small flow, a script of timed inputs (see `common/mod.rs`) and, for each
//! input, the exact commands the engine must emit (prefixed by `! ...` when the event is
//! refused, or `deadline ...` for a timer check), then the outcome, the path and variables.

mod common;

use common::{Run, compile, wall};

struct Case {
    name: &'static str,
    flow: &'static str,
    /// Wall-clock time at the start; `None` for a fixed Monday noon in Paris.
    wall: Option<&'static str>,
    steps: &'static [(&'static str, &'static [&'static str])],
    /// `None`: still running at the end.
    outcome: Option<&'static str>,
    /// `state@seconds` entries; `None`: not checked.
    path: Option<&'static [&'static str]>,
    /// Variables that must have these values (`""`: must be unset).
    vars: &'static [(&'static str, &'static str)],
}

const DEFAULT_WALL: &str = "2025-03-31T10:00:00Z";

fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let flow = compile("t.yaml", case.flow);
        let mut r = Run::new(flow, wall(case.wall.unwrap_or(DEFAULT_WALL)));
        let mut problems = Vec::new();
        for (input, want) in case.steps {
            let (commands, result) = r.line(input);
            let got: Vec<String> = result.into_iter().chain(commands).collect();
            if got != *want {
                problems.push(format!("  `{input}`:\n    want {want:?}\n    got  {got:?}"));
            }
        }
        let outcome = r.contact().outcome().map(|o| o.to_string());
        if outcome.as_deref() != case.outcome {
            problems.push(format!(
                "  outcome: want {:?}, got {outcome:?}",
                case.outcome
            ));
        }
        if let Some(path) = case.path
            && r.path() != path
        {
            problems.push(format!("  path: want {path:?}, got {:?}", r.path()));
        }
        for (k, v) in case.vars {
            let got = r
                .contact()
                .variables()
                .get(*k)
                .map(String::as_str)
                .unwrap_or("");
            if got != *v {
                problems.push(format!("  var {k}: want {v:?}, got {got:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}:\n{}\n--- trace\n{}",
                case.name,
                problems.join("\n"),
                r.trace
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn answer_and_play() {
    run(&[
        Case {
            name: "answer, then play several prompts, then hang up",
            flow: "
start: a
states:
  a: { answer: {}, next: p }
  p: { play: [welcome, menu.wav], next: hangup }
",
            wall: None,
            steps: &[
                ("start +15550100 1000", &["Answer", "Play #1 [welcome, menu]"]),
                ("at 4s played 1", &["Hangup"]),
            ],
            outcome: Some("flow hung up"),
            path: Some(&["a@0.000", "p@0.000"]),
            vars: &[("caller", "+15550100"), ("called", "1000"), ("flow", "t")],
        },
        Case {
            name: "numbers, durations and digits are spoken with the number prompts",
            flow: "
start: s
states:
  s: { set: { n: 3, w: 150 }, next: p }
  p:
    play: [queue-position, { number: '${n}' }, queue-wait, { duration: '${w}' }, { digits: '${caller}' }]
    next: hangup
",
            wall: None,
            steps: &[(
                "start +15 1000",
                &[
                    "Answer",
                    "Play #1 [queue-position, digits/3, queue-wait, digits/2, minutes, digits/30, seconds, digits/1, digits/5]",
                ],
            )],
            outcome: None,
            path: Some(&["s@0.000", "p@0.000"]),
            vars: &[("n", "3"), ("w", "150")],
        },
        Case {
            name: "a play whose items all render to nothing moves on at once",
            flow: "
start: p
states:
  p: { play: [{ number: '${unset}' }], next: b }
  b: { hangup: {} }
",
            wall: None,
            steps: &[("start 1 2", &["Answer", "Hangup"])],
            outcome: Some("flow hung up"),
            path: Some(&["p@0.000", "b@0.000"]),
            vars: &[],
        },
        Case {
            name: "barge-in stops a play and the digit answers the next menu (type-ahead)",
            flow: "
start: w
states:
  w: { play: { prompts: welcome, barge_in: true }, next: m }
  m:
    menu: { prompt: menu }
    on: { '1': one, '2': two, failed: hangup }
  one: { play: goodbye, next: hangup }
  two: { play: transfer, next: hangup }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [welcome] barge-in"]),
                ("at 1s digit 2", &["StopPlay #1", "Play #2 [transfer]"]),
                ("at 1s played 1", &["! stale event for operation #1"]),
                ("at 3s played 2", &["Hangup"]),
            ],
            outcome: Some("flow hung up"),
            path: Some(&["w@0.000", "m@1.000", "two@1.000"]),
            vars: &[("digits", "2")],
        },
        Case {
            name: "without barge-in, digits during a play are ignored",
            flow: "
start: w
states:
  w: { play: welcome, next: m }
  m:
    menu: { prompt: menu }
    on: { '1': one, failed: hangup }
  one: { play: goodbye, next: hangup }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [welcome]"]),
                ("at 1s digit 1", &[]),
                ("at 2s played 1", &["Play #2 [menu] barge-in"]),
                ("at 3s digit 1", &["StopPlay #2", "Play #3 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["w@0.000", "m@2.000", "one@3.000"]),
            vars: &[],
        },
    ]);
}

const COLLECT: &str = "
start: c
states:
  c:
    collect: { prompt: menu, max_digits: 4, min_digits: 3, retries: 1, invalid_prompt: invalid, no_input_prompt: welcome, into: account }
    next: ok
    on: { failed: bye }
  ok: { play: goodbye, next: hangup }
  bye: { hangup: {} }
";

#[test]
fn collect_digits() {
    run(&[
        Case {
            name: "max digits ends the collection",
            flow: COLLECT,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("deadline", &["deadline none"]),
                ("at 2s played 1", &[]),
                ("deadline", &["deadline 7.000"]),
                ("at 3s digits 1234", &["Play #2 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["c@0.000", "ok@3.000"]),
            vars: &[("account", "1234"), ("digits", "")],
        },
        Case {
            name: "the # terminator ends it early",
            flow: COLLECT,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 2s played 1", &[]),
                ("at 3s digits 123#", &["Play #2 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["c@0.000", "ok@3.000"]),
            vars: &[("account", "123")],
        },
        Case {
            name: "the inter-digit timeout ends it with the digits so far",
            flow: COLLECT,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 2s played 1", &[]),
                ("at 3s digits 12", &[]),
                ("deadline", &["deadline 6.000"]),
                ("at 4s digit 3", &[]),
                ("deadline", &["deadline 7.000"]),
                ("wait", &["Play #2 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["c@0.000", "ok@7.000"]),
            vars: &[("account", "123")],
        },
        Case {
            name: "too few digits re-prompts with the invalid prompt; no input then uses up the retries",
            flow: COLLECT,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 2s played 1", &[]),
                ("at 3s digits 12#", &["Play #2 [invalid, menu] barge-in"]),
                ("at 5s played 2", &[]),
                ("wait", &["Hangup"]),
            ],
            outcome: Some("flow hung up"),
            path: Some(&["c@0.000", "bye@10.000"]),
            vars: &[("account", "")],
        },
        Case {
            name: "no input re-prompts with the no-input prompt",
            flow: COLLECT,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 2s played 1", &[]),
                ("wait", &["Play #2 [welcome, menu] barge-in"]),
                ("at 9s digits 9876", &["StopPlay #2", "Play #3 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["c@0.000", "ok@9.000"]),
            vars: &[("account", "9876")],
        },
        Case {
            name: "a digit during the prompt stops it and counts",
            flow: COLLECT,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 1s digit 5", &["StopPlay #1"]),
                ("deadline", &["deadline 4.000"]),
                ("at 2s digits 55#", &["Play #2 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["c@0.000", "ok@2.000"]),
            vars: &[("account", "555")],
        },
        Case {
            name: "without barge-in, digits during the prompt are dropped; without a terminator # is a digit",
            flow: "
start: c
states:
  c:
    collect: { prompt: menu, max_digits: 2, barge_in: false, terminator: none }
    next: ok
    on: { failed: hangup }
  ok: { hangup: {} }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu]"]),
                ("at 1s digit 5", &[]),
                ("at 2s played 1", &[]),
                ("at 3s digits 7#", &["Hangup"]),
            ],
            outcome: Some("flow hung up"),
            path: Some(&["c@0.000", "ok@3.000"]),
            vars: &[("digits", "7#")],
        },
        Case {
            name: "with `timeout` and `invalid` transitions, the last miss picks the way",
            flow: "
start: c
states:
  c:
    collect: { prompt: menu, max_digits: 3, min_digits: 3, retries: 0 }
    next: ok
    on: { timeout: slow, invalid: wrong }
  ok: { hangup: {} }
  slow: { play: welcome, next: hangup }
  wrong: { play: invalid, next: hangup }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 1s digits 1#", &["StopPlay #1", "Play #2 [invalid]"]),
            ],
            outcome: None,
            path: Some(&["c@0.000", "wrong@1.000"]),
            vars: &[],
        },
    ]);
}

const MENU: &str = "
start: m
states:
  m:
    menu: { prompt: menu, retries: 2, invalid_prompt: invalid, timeout: 4s }
    on: { '1': sales, '2': support, failed: bye }
  sales: { play: queue-busy, next: hangup }
  support: { play: transfer, next: hangup }
  bye: { play: goodbye, next: hangup }
";

#[test]
fn menus() {
    run(&[
        Case {
            name: "a digit with a transition goes there",
            flow: MENU,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 1s digit 2", &["StopPlay #1", "Play #2 [transfer]"]),
            ],
            outcome: None,
            path: Some(&["m@0.000", "support@1.000"]),
            vars: &[("digits", "2")],
        },
        Case {
            name: "another digit is invalid: invalid prompt, menu again",
            flow: MENU,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 5s played 1", &[]),
                ("at 6s digit 9", &["Play #2 [invalid, menu] barge-in"]),
                ("at 7s digit 1", &["StopPlay #2", "Play #3 [queue-busy]"]),
            ],
            outcome: None,
            path: Some(&["m@0.000", "sales@7.000"]),
            vars: &[("digits", "1")],
        },
        Case {
            name: "three times no input uses up two retries and takes `failed`",
            flow: MENU,
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 5s played 1", &[]),
                ("deadline", &["deadline 9.000"]),
                ("wait", &["Play #2 [menu] barge-in"]),
                ("at 14s played 2", &[]),
                ("wait", &["Play #3 [menu] barge-in"]),
                ("at 23s played 3", &[]),
                ("wait", &["Play #4 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["m@0.000", "bye@27.000"]),
            vars: &[],
        },
        Case {
            name: "`timeout` is taken before `failed` when the last attempt had no input",
            flow: "
start: m
states:
  m:
    menu: { prompt: menu, retries: 0 }
    on: { '1': a, timeout: b, failed: c }
  a: { play: digits/1, next: hangup }
  b: { play: digits/2, next: hangup }
  c: { play: digits/3, next: hangup }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [menu] barge-in"]),
                ("at 3s played 1", &[]),
                ("wait", &["Play #2 [digits/2]"]),
            ],
            outcome: None,
            path: Some(&["m@0.000", "b@8.000"]),
            vars: &[],
        },
    ]);
}

const QUEUE: &str = "
start: q
states:
  q:
    enqueue: { queue: sales, greeting: queue-busy, music: hold-music, announce: { position: true, wait: true, every: 30s }, max_wait: 2m }
    on: { max_wait: vm, no_agents: closed, error: bye, '0': vm }
  vm: { record: { max: 60s }, next: bye, on: { error: bye } }
  closed: { play: no-agents, next: hangup }
  bye: { play: goodbye, next: hangup }
";

const QUEUE_START: (&str, &[&str]) = (
    "start 1 2",
    &[
        "Answer",
        "Enqueue #1 sales priority=0",
        "Play #2 [queue-busy]",
    ],
);

#[test]
fn queues() {
    run(&[
        Case {
            name: "greeting, music, announcements from ACD reports, then the flow's max wait",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 4s played 2", &["Play #3 [hold-music] loop"]),
                ("at 10s position 1 3 90s", &[]),
                (
                    "wait",
                    &[
                        "Play #4 [queue-position, digits/3, queue-wait, digits/1, minute, digits/30, seconds]",
                    ],
                ),
                ("at 36s played 4", &["Play #5 [hold-music] loop"]),
                ("at 40s position 1 2", &[]),
                ("wait", &["Play #6 [queue-position, digits/2]"]),
                ("at 63s played 6", &["Play #7 [hold-music] loop"]),
                ("wait", &["Play #8 [queue-position, digits/2]"]),
                ("at 93s played 8", &["Play #9 [hold-music] loop"]),
                ("deadline", &["deadline 120.000"]),
                // Max wait and an announcement are both due: max wait wins.
                (
                    "wait",
                    &[
                        "StopPlay #9",
                        "Dequeue #1",
                        "Record #10 voicemail max=1m beep",
                    ],
                ),
            ],
            outcome: None,
            path: Some(&["q@0.000", "vm@120.000"]),
            vars: &[("queue_position", "2"), ("queue_wait_seconds", "")],
        },
        Case {
            name: "with nothing reported, an announcement keeps the music",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 4s played 2", &["Play #3 [hold-music] loop"]),
                ("wait", &[]),
                ("deadline", &["deadline 60.000"]),
            ],
            outcome: None,
            path: Some(&["q@0.000"]),
            vars: &[],
        },
        Case {
            name: "an announcement due during the greeting is skipped",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 5s position 1 4", &[]),
                ("wait", &[]),
                ("at 31s played 2", &["Play #3 [hold-music] loop"]),
                ("wait", &["Play #4 [queue-position, digits/4]"]),
            ],
            outcome: None,
            path: Some(&["q@0.000"]),
            vars: &[],
        },
        Case {
            name: "an agent answering ends the flow; later events are refused",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 4s played 2", &["Play #3 [hold-music] loop"]),
                ("at 20s agent 1 alice", &["StopPlay #3"]),
                ("deadline", &["deadline none"]),
                ("at 21s hangup", &["! the flow has ended"]),
            ],
            outcome: Some("connected to agent alice from queue sales"),
            path: Some(&["q@0.000"]),
            vars: &[("agent", "alice")],
        },
        Case {
            name: "the ACD's max wait takes `max_wait` without a Dequeue",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                (
                    "at 3s acd-max-wait 1",
                    &["StopPlay #2", "Record #3 voicemail max=1m beep"],
                ),
            ],
            outcome: None,
            path: Some(&["q@0.000", "vm@3.000"]),
            vars: &[],
        },
        Case {
            name: "no agents takes `no_agents`",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 1s no-agents 1", &["StopPlay #2", "Play #3 [no-agents]"]),
            ],
            outcome: None,
            path: Some(&["q@0.000", "closed@1.000"]),
            vars: &[],
        },
        Case {
            name: "a queue failure takes `error` and sets `error`",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                (
                    "at 1s queue-failed 1 queue deleted",
                    &["StopPlay #2", "Play #3 [goodbye]"],
                ),
            ],
            outcome: None,
            path: Some(&["q@0.000", "bye@1.000"]),
            vars: &[("error", "queue deleted")],
        },
        Case {
            name: "a digit with a transition leaves the queue; others are ignored",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 5s digit 5", &[]),
                (
                    "at 6s digit 0",
                    &[
                        "StopPlay #2",
                        "Dequeue #1",
                        "Record #3 voicemail max=1m beep",
                    ],
                ),
            ],
            outcome: None,
            path: Some(&["q@0.000", "vm@6.000"]),
            vars: &[],
        },
        Case {
            name: "the caller hanging up leaves the queue",
            flow: QUEUE,
            wall: None,
            steps: &[QUEUE_START, ("at 5s hangup", &["Dequeue #1"])],
            outcome: Some("caller hung up in `q`"),
            path: Some(&["q@0.000"]),
            vars: &[],
        },
        Case {
            name: "events for another queue entry are stale",
            flow: QUEUE,
            wall: None,
            steps: &[
                QUEUE_START,
                ("at 5s position 9 1", &["! stale event for operation #9"]),
                ("at 5s agent 2 bob", &["! stale event for operation #2"]),
            ],
            outcome: None,
            path: Some(&["q@0.000"]),
            vars: &[],
        },
        Case {
            name: "no `no_agents` falls back to `error`; no `error` either fails the flow",
            flow: "
start: q
states:
  q:
    enqueue: { queue: support, music: hold-music }
    on: { max_wait: hangup }
",
            wall: None,
            steps: &[
                (
                    "start 1 2",
                    &[
                        "Answer",
                        "Enqueue #1 support priority=0",
                        "Play #2 [hold-music] loop",
                    ],
                ),
                ("at 9s no-agents 1", &["StopPlay #2", "Hangup"]),
            ],
            outcome: Some("failed in `q`: no `no_agents` transition"),
            path: Some(&["q@0.000"]),
            vars: &[],
        },
    ]);
}

const TRANSFER_QUEUE: &str = "
start: t
states:
  t:
    transfer: { queue: sales }
    on: { no_agents: closed, error: bye }
  closed: { play: no-agents, next: hangup }
  bye: { play: goodbye, next: hangup }
";

const TRANSFER_AGENT: &str = "
start: t
states:
  t:
    transfer: { agent: '1001', greeting: queue-busy, music: hold-music, max_wait: 45s }
    on: { max_wait: vm, no_agents: closed, error: bye }
  vm: { record: { max: 60s }, next: bye, on: { error: bye } }
  closed: { play: no-agents, next: hangup }
  bye: { play: goodbye, next: hangup }
";

const TRANSFER_AGENT_START: (&str, &[&str]) = (
    "start 1 2",
    &[
        "Answer",
        "Enqueue #1 - priority=0 agent=1001",
        "Play #2 [queue-busy]",
    ],
);

#[test]
fn transfers_to_queues_and_agents() {
    run(&[
        Case {
            name: "transfer to a queue enqueues with the default music; an agent answers",
            flow: TRANSFER_QUEUE,
            wall: None,
            steps: &[
                (
                    "start 1 2",
                    &[
                        "Answer",
                        "Enqueue #1 sales priority=0",
                        "Play #2 [hold-music] loop",
                    ],
                ),
                ("at 20s agent 1 alice", &["StopPlay #2"]),
            ],
            outcome: Some("connected to agent alice from queue sales"),
            path: Some(&["t@0.000"]),
            vars: &[("agent", "alice")],
        },
        Case {
            name: "transfer to a queue: no agents and queue errors take their transitions",
            flow: TRANSFER_QUEUE,
            wall: None,
            steps: &[
                (
                    "start 1 2",
                    &[
                        "Answer",
                        "Enqueue #1 sales priority=0",
                        "Play #2 [hold-music] loop",
                    ],
                ),
                ("at 1s no-agents 1", &["StopPlay #2", "Play #3 [no-agents]"]),
            ],
            outcome: None,
            path: Some(&["t@0.000", "closed@1.000"]),
            vars: &[],
        },
        Case {
            name: "transfer to a queue: a queue failure takes `error`",
            flow: TRANSFER_QUEUE,
            wall: None,
            steps: &[
                (
                    "start 1 2",
                    &[
                        "Answer",
                        "Enqueue #1 sales priority=0",
                        "Play #2 [hold-music] loop",
                    ],
                ),
                (
                    "at 2s queue-failed 1 queue deleted",
                    &["StopPlay #2", "Play #3 [goodbye]"],
                ),
            ],
            outcome: None,
            path: Some(&["t@0.000", "bye@2.000"]),
            vars: &[("error", "queue deleted")],
        },
        Case {
            name: "transfer to a queue with options: priority, greeting, music, announcements, max wait",
            flow: "
start: t
states:
  t:
    transfer: { queue: support, priority: 7, greeting: queue-busy, music: hold-music, announce: { position: true, every: 20s }, max_wait: 50s }
    on: { max_wait: bye }
  bye: { play: goodbye, next: hangup }
",
            wall: None,
            steps: &[
                (
                    "start 1 2",
                    &[
                        "Answer",
                        "Enqueue #1 support priority=7",
                        "Play #2 [queue-busy]",
                    ],
                ),
                ("at 3s played 2", &["Play #3 [hold-music] loop"]),
                ("at 5s position 1 4", &[]),
                ("wait", &["Play #4 [queue-position, digits/4]"]),
                ("at 22s played 4", &["Play #5 [hold-music] loop"]),
                ("wait", &["Play #6 [queue-position, digits/4]"]),
                ("at 42s played 6", &["Play #7 [hold-music] loop"]),
                ("deadline", &["deadline 50.000"]),
                ("wait", &["StopPlay #7", "Dequeue #1", "Play #8 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["t@0.000", "bye@50.000"]),
            vars: &[("queue_position", "4")],
        },
        Case {
            name: "transfer to an agent: only that agent is asked for; it answers",
            flow: TRANSFER_AGENT,
            wall: None,
            steps: &[
                TRANSFER_AGENT_START,
                ("at 3s played 2", &["Play #3 [hold-music] loop"]),
                ("at 9s agent 1 1001", &["StopPlay #3"]),
            ],
            outcome: Some("connected to agent 1001"),
            path: Some(&["t@0.000"]),
            vars: &[("agent", "1001")],
        },
        Case {
            name: "transfer to an agent who is logged out takes `no_agents`",
            flow: TRANSFER_AGENT,
            wall: None,
            steps: &[
                TRANSFER_AGENT_START,
                ("no-agents 1", &["StopPlay #2", "Play #3 [no-agents]"]),
            ],
            outcome: None,
            path: Some(&["t@0.000", "closed@0.000"]),
            vars: &[],
        },
        Case {
            name: "transfer to a busy agent: the flow's max wait takes `max_wait`",
            flow: TRANSFER_AGENT,
            wall: None,
            steps: &[
                TRANSFER_AGENT_START,
                ("at 3s played 2", &["Play #3 [hold-music] loop"]),
                ("deadline", &["deadline 45.000"]),
                (
                    "wait",
                    &[
                        "StopPlay #3",
                        "Dequeue #1",
                        "Record #4 voicemail max=1m beep",
                    ],
                ),
            ],
            outcome: None,
            path: Some(&["t@0.000", "vm@45.000"]),
            vars: &[],
        },
        Case {
            name: "transfer to an agent: the queue's own max wait takes `max_wait` too",
            flow: TRANSFER_AGENT,
            wall: None,
            steps: &[
                TRANSFER_AGENT_START,
                (
                    "at 30s acd-max-wait 1",
                    &["StopPlay #2", "Record #3 voicemail max=1m beep"],
                ),
            ],
            outcome: None,
            path: Some(&["t@0.000", "vm@30.000"]),
            vars: &[],
        },
        Case {
            name: "transfer to an agent from a variable, counted under a named queue",
            flow: "
start: who
states:
  who: { set: { target: '1002' }, next: t }
  t:
    transfer: { agent: '${target}', queue: support }
    on: { no_agents: hangup, error: hangup }
",
            wall: None,
            steps: &[(
                "start 1 2",
                &[
                    "Answer",
                    "Enqueue #1 support priority=0 agent=1002",
                    "Play #2 [hold-music] loop",
                ],
            )],
            outcome: None,
            path: Some(&["who@0.000", "t@0.000"]),
            vars: &[("target", "1002")],
        },
    ]);
}

const RECORD: &str = "
start: r
states:
  r: { record: { kind: voicemail, max: 30s, silence: 5s }, next: bye, on: { error: oops } }
  bye: { play: goodbye, next: hangup }
  oops: { play: invalid, next: hangup }
";

const RECORD_START: (&str, &[&str]) = (
    "start 1 2",
    &["Answer", "Record #1 voicemail max=30s beep silence=5s"],
);

#[test]
fn recordings() {
    run(&[
        Case {
            name: "max length stops the recording; the report moves on",
            flow: RECORD,
            wall: None,
            steps: &[
                RECORD_START,
                ("deadline", &["deadline 30.000"]),
                ("wait", &["StopRecord #1"]),
                (
                    "at 31s recorded 1 rec-1 /data/recordings/rec-1.wav 30s",
                    &["Play #2 [goodbye]"],
                ),
                ("show-recordings", &["recordings: rec-1"]),
            ],
            outcome: None,
            path: Some(&["r@0.000", "bye@31.000"]),
            vars: &[
                ("recording_id", "rec-1"),
                ("recording_path", "/data/recordings/rec-1.wav"),
                ("recording_seconds", "30"),
            ],
        },
        Case {
            name: "# stops the recording; other digits do not",
            flow: RECORD,
            wall: None,
            steps: &[
                RECORD_START,
                ("at 5s digit 1", &[]),
                ("at 12s digit #", &["StopRecord #1"]),
                (
                    "at 12s recorded 1 rec-2 /r/2.wav 12s",
                    &["Play #2 [goodbye]"],
                ),
            ],
            outcome: None,
            path: Some(&["r@0.000", "bye@12.000"]),
            vars: &[("recording_seconds", "12")],
        },
        Case {
            name: "the handler may end it (silence) and report it",
            flow: RECORD,
            wall: None,
            steps: &[
                RECORD_START,
                ("at 8s recorded 1 rec-3 /r/3.wav 8s", &["Play #2 [goodbye]"]),
            ],
            outcome: None,
            path: Some(&["r@0.000", "bye@8.000"]),
            vars: &[("recording_id", "rec-3")],
        },
        Case {
            name: "a failed recording takes `error`",
            flow: RECORD,
            wall: None,
            steps: &[
                RECORD_START,
                ("at 2s record-failed 1 disk full", &["Play #2 [invalid]"]),
            ],
            outcome: None,
            path: Some(&["r@0.000", "oops@2.000"]),
            vars: &[("error", "disk full")],
        },
        Case {
            name: "a recording never reported takes `error` after the grace period",
            flow: RECORD,
            wall: None,
            steps: &[
                RECORD_START,
                ("at 3s digit #", &["StopRecord #1"]),
                ("deadline", &["deadline 8.000"]),
                ("wait", &["Play #2 [invalid]"]),
                (
                    "at 9s recorded 1 late /r/late.wav 3s",
                    &["! stale event for operation #1"],
                ),
            ],
            outcome: None,
            path: Some(&["r@0.000", "oops@8.000"]),
            vars: &[("error", "the recording was not reported in time")],
        },
        Case {
            name: "a hangup while recording keeps the recording, reported after the end",
            flow: RECORD,
            wall: None,
            steps: &[
                RECORD_START,
                ("at 9s hangup", &["StopRecord #1"]),
                ("at 10s recorded 1 rec-9 /r/9.wav 9s", &[]),
                ("show-recordings", &["recordings: rec-9"]),
                (
                    "at 11s recorded 1 rec-9 /r/9.wav 9s",
                    &["! the flow has ended"],
                ),
            ],
            outcome: Some("caller hung up in `r`"),
            path: Some(&["r@0.000"]),
            vars: &[],
        },
    ]);
}

const TRANSFER: &str = "
start: t
vars: { ext: 200 }
states:
  t: { transfer: 'sip:${ext}@pbx.example.com', on: { error: bye } }
  bye: { play: goodbye, next: hangup }
";

#[test]
fn transfers() {
    run(&[
        Case {
            name: "a completed transfer ends the flow",
            flow: TRANSFER,
            wall: None,
            steps: &[
                ("start 1 2", &["Transfer #1 sip:200@pbx.example.com"]),
                ("at 2s transferred 1", &[]),
            ],
            outcome: Some("transferred to sip:200@pbx.example.com"),
            path: Some(&["t@0.000"]),
            vars: &[("ext", "200")],
        },
        Case {
            name: "a failed transfer takes `error`",
            flow: TRANSFER,
            wall: None,
            steps: &[
                ("start 1 2", &["Transfer #1 sip:200@pbx.example.com"]),
                (
                    "at 2s transfer-failed 1 486 Busy Here",
                    &["Answer", "Play #2 [goodbye]"],
                ),
            ],
            outcome: None,
            path: Some(&["t@0.000", "bye@2.000"]),
            vars: &[("error", "486 Busy Here")],
        },
    ]);
}

const BRANCH: &str = "
start: s
states:
  s: { set: { tier: gold, who: 'caller ${caller}' }, next: b }
  b:
    branch:
      - { var: tier, in: [platinum, diamond], goto: plat }
      - { var: caller, prefix: '+33', goto: fr }
      - { var: caller, regex: '^\\+1(212|646)', goto: nyc }
      - { var: who, equals: 'caller +449', goto: uk }
      - { var: account, present: true, goto: known }
    next: other
  plat: { play: digits/1, next: hangup }
  fr: { play: digits/2, next: hangup }
  nyc: { play: digits/3, next: hangup }
  uk: { play: digits/4, next: hangup }
  known: { play: digits/5, next: hangup }
  other: { play: digits/6, next: hangup }
";

#[test]
fn set_and_branch() {
    run(&[
        Case {
            name: "prefix on the caller number",
            flow: BRANCH,
            wall: None,
            steps: &[("start +33142 1000", &["Answer", "Play #1 [digits/2]"])],
            outcome: None,
            path: Some(&["s@0.000", "b@0.000", "fr@0.000"]),
            vars: &[("tier", "gold"), ("who", "caller +33142")],
        },
        Case {
            name: "regex on the caller number",
            flow: BRANCH,
            wall: None,
            steps: &[("start +16465550100 1000", &["Answer", "Play #1 [digits/3]"])],
            outcome: None,
            path: Some(&["s@0.000", "b@0.000", "nyc@0.000"]),
            vars: &[],
        },
        Case {
            name: "equals on a templated variable",
            flow: BRANCH,
            wall: None,
            steps: &[("start +449 1000", &["Answer", "Play #1 [digits/4]"])],
            outcome: None,
            path: Some(&["s@0.000", "b@0.000", "uk@0.000"]),
            vars: &[],
        },
        Case {
            name: "no rule matches: `next`",
            flow: BRANCH,
            wall: None,
            steps: &[("start +15550100 1000", &["Answer", "Play #1 [digits/6]"])],
            outcome: None,
            path: Some(&["s@0.000", "b@0.000", "other@0.000"]),
            vars: &[],
        },
        Case {
            name: "`in` and `present`",
            flow: "
start: s
states:
  s: { set: { tier: diamond, account: 42 }, next: b }
  b:
    branch:
      - { var: account, present: false, goto: anon }
      - { var: tier, in: [platinum, diamond], goto: vip }
    next: anon
  vip: { play: digits/1, next: hangup }
  anon: { play: digits/2, next: hangup }
",
            wall: None,
            steps: &[("start 1 2", &["Answer", "Play #1 [digits/1]"])],
            outcome: None,
            path: Some(&["s@0.000", "b@0.000", "vip@0.000"]),
            vars: &[],
        },
        Case {
            name: "a set/branch loop is stopped by the step limit",
            flow: "
start: a
states:
  a: { set: { n: x }, next: b }
  b:
    branch: [ { var: n, equals: x, goto: a } ]
    next: c
  c: { hangup: {} }
",
            wall: None,
            steps: &[("start 1 2", &["Hangup"])],
            outcome: Some("failed in `b`: more than 100 states without waiting for input (a loop)"),
            path: None,
            vars: &[],
        },
    ]);
}

const HOURS: &str = "
start: h
states:
  h:
    hours: { timezone: Europe/Paris, schedule: { mon-fri: '08:00-18:00' }, holidays: [2025-12-25] }
    on: { open: o, closed: c }
  o: { play: welcome, next: hangup }
  c: { play: closed, next: hangup }
";

#[test]
fn business_hours() {
    // (wall time at the start, the prompt the caller hears, why)
    let cases: &[(&str, &str, &str)] = &[
        (
            "2025-03-31T06:30:00Z",
            "welcome",
            "Monday 08:30 CEST is open",
        ),
        (
            "2025-03-31T05:30:00Z",
            "closed",
            "Monday 07:30 CEST is closed",
        ),
        (
            "2025-03-28T06:30:00Z",
            "closed",
            "Friday 07:30 CET (same UTC time, winter) is closed",
        ),
        (
            "2025-03-28T16:30:00Z",
            "welcome",
            "Friday 17:30 CET is open",
        ),
        ("2025-03-30T10:00:00Z", "closed", "Sunday is closed"),
        (
            "2025-12-25T10:00:00Z",
            "closed",
            "Christmas (a Thursday) is closed",
        ),
        (
            "2025-12-26T10:00:00Z",
            "welcome",
            "the day after Christmas is open",
        ),
    ];
    let flow = compile("t.yaml", HOURS);
    for (at, prompt, why) in cases {
        let mut r = Run::new(flow.clone(), wall(at));
        let (commands, _) = r.line("start 1 2");
        assert_eq!(
            commands,
            ["Answer".to_string(), format!("Play #1 [{prompt}]")],
            "{why}"
        );
    }
}

const WEBHOOK: &str = "
start: w
states:
  w:
    webhook: { url: 'https://crm.example.com/lookup?c=${caller}', timeout: 3s, data: { source: ivr } }
    next: plain
    on: { vip: vipq, error: failed }
  plain: { play: welcome, next: hangup }
  vipq: { play: queue-busy, next: hangup }
  failed: { play: invalid, next: hangup }
";

const WEBHOOK_START: (&str, &[&str]) = (
    "start +1555 1000",
    &[
        r#"Webhook #1 https://crm.example.com/lookup?c=+1555 timeout=3s {called="1000", caller="+1555", flow="t", source="ivr", state="w"}"#,
    ],
);

#[test]
fn webhooks() {
    run(&[
        Case {
            name: "the reply sets variables and picks an outcome",
            flow: WEBHOOK,
            wall: None,
            steps: &[
                WEBHOOK_START,
                (
                    "at 1s webhook 1 tier=gold next=vip",
                    &["Answer", "Play #2 [queue-busy]"],
                ),
            ],
            outcome: None,
            path: Some(&["w@0.000", "vipq@1.000"]),
            vars: &[("tier", "gold")],
        },
        Case {
            name: "a reply without an outcome takes `next`; read-only variables are kept",
            flow: WEBHOOK,
            wall: None,
            steps: &[
                WEBHOOK_START,
                (
                    "at 1s webhook 1 name=Bob caller=evil 9bad=x",
                    &["Answer", "Play #2 [welcome]"],
                ),
            ],
            outcome: None,
            path: Some(&["w@0.000", "plain@1.000"]),
            vars: &[("name", "Bob"), ("caller", "+1555"), ("9bad", "")],
        },
        Case {
            name: "an unknown outcome takes `error`",
            flow: WEBHOOK,
            wall: None,
            steps: &[
                WEBHOOK_START,
                (
                    "at 1s webhook 1 next=nope",
                    &["Answer", "Play #2 [invalid]"],
                ),
            ],
            outcome: None,
            path: Some(&["w@0.000", "failed@1.000"]),
            vars: &[("error", "the webhook picked unknown outcome `nope`")],
        },
        Case {
            name: "a failure takes `error`",
            flow: WEBHOOK,
            wall: None,
            steps: &[
                WEBHOOK_START,
                (
                    "at 1s webhook-failed 1 HTTP 500",
                    &["Answer", "Play #2 [invalid]"],
                ),
            ],
            outcome: None,
            path: Some(&["w@0.000", "failed@1.000"]),
            vars: &[("error", "HTTP 500")],
        },
        Case {
            name: "no reply in time takes `error`; the late reply is stale",
            flow: WEBHOOK,
            wall: None,
            steps: &[
                WEBHOOK_START,
                ("deadline", &["deadline 3.000"]),
                ("wait", &["Answer", "Play #2 [invalid]"]),
                (
                    "at 4s webhook 1 next=vip",
                    &["! stale event for operation #1"],
                ),
            ],
            outcome: None,
            path: Some(&["w@0.000", "failed@3.000"]),
            vars: &[("error", "the webhook did not answer in time")],
        },
    ]);
}

#[test]
fn hangups() {
    run(&[
        Case {
            name: "a hangup state before answering rejects the call; later events are refused",
            flow: "
start: a
states:
  a: { hangup: {} }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Hangup"]),
                ("at 1s digit 1", &["! the flow has ended"]),
            ],
            outcome: Some("flow hung up"),
            path: Some(&["a@0.000"]),
            vars: &[],
        },
        Case {
            name: "`on: hangup` runs a webhook after the caller left",
            flow: "
start: m
states:
  m: { play: welcome, next: hangup, on: { hangup: notify } }
  notify: { webhook: { url: 'https://crm.example.com/ended' }, next: hangup, on: { error: hangup } }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [welcome]"]),
                (
                    "at 2s hangup",
                    &[
                        r#"Webhook #2 https://crm.example.com/ended timeout=5s {called="2", caller="1", flow="t", state="notify"}"#,
                    ],
                ),
                ("at 2s hangup", &["! state `notify` does not expect Hangup"]),
                ("at 3s webhook 2", &[]),
            ],
            outcome: Some("caller hung up in `m`"),
            path: Some(&["m@0.000", "notify@2.000"]),
            vars: &[],
        },
        Case {
            name: "the caller hanging up during a play ends the flow without commands",
            flow: "
start: m
states:
  m: { play: welcome, next: hangup }
",
            wall: None,
            steps: &[
                ("start 1 2", &["Answer", "Play #1 [welcome]"]),
                ("at 1s hangup", &[]),
            ],
            outcome: Some("caller hung up in `m`"),
            path: Some(&["m@0.000"]),
            vars: &[],
        },
    ]);
}

#[test]
fn dtmf_accepts_only_dtmf_keys() {
    for c in "0123456789*#ABCDabcd".chars() {
        assert!(flow::Dtmf::new(c).is_some(), "{c}");
    }
    for c in "EeXx+ -".chars() {
        assert!(flow::Dtmf::new(c).is_none(), "{c}");
    }
    assert_eq!(flow::Dtmf::new('a').map(flow::Dtmf::as_char), Some('A'));
}

#[test]
fn a_long_value_said_digit_by_digit_is_cut_to_the_play_limit() {
    let flow = compile(
        "t.yaml",
        "start: p\nstates:\n  p: { play: [welcome, { digits: '${long}' }], next: hangup }\n",
    );
    let long = "7".repeat(500);
    let mut r = Run::new(flow, wall(DEFAULT_WALL));
    let (commands, _) = r.line(&format!("start 1 2 long={long}"));
    let mut want = vec!["welcome".to_string()];
    want.extend(std::iter::repeat_n(
        "digits/7".to_string(),
        flow::MAX_PROMPTS_PER_PLAY - 1,
    ));
    assert_eq!(
        commands,
        [
            "Answer".to_string(),
            format!("Play #1 [{}]", want.join(", "))
        ]
    );
}
