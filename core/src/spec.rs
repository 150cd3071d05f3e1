//! Test support for the deciders: given/when/then specifications and the shared fixtures.
//!
//! ```
//! use devcare::spec::{fixtures, given};
//! use devcare::{Server, ServerCommand, ServerEvent};
//!
//! let c = fixtures::campaign();
//! given::<Server>([])
//!     .when(ServerCommand::Create { campaign: Box::new(c.clone()), targeted: Some(10), at: fixtures::T0 })
//!     .then([ServerEvent::CampaignCreated { campaign: Box::new(c), targeted: 10, at: fixtures::T0 }]);
//! ```
//!
//! Every `then…` also checks what every decider must do: replaying the given events plus
//! the new ones equals the live state (the log rebuilds the state), and a refusal leaves
//! the state exactly as it was (nothing to append).

use std::fmt::Debug;

use crate::decider::Decider;

/// A refusal with a stable name (`reason()` of the decider's error).
pub trait Refusal {
    /// The stable kebab-case name of the refusal.
    fn reason(&self) -> &'static str;
}

impl Refusal for crate::device::DeviceError {
    fn reason(&self) -> &'static str {
        crate::device::DeviceError::reason(self)
    }
}

#[cfg(feature = "server")]
impl Refusal for crate::server::ServerError {
    fn reason(&self) -> &'static str {
        crate::server::ServerError::reason(self)
    }
}

/// The state a specification starts from: the events given so far.
pub struct Given<D: Decider> {
    events: Vec<D::Event>,
    state: D::State,
}

/// Starts a specification from `events` (folded into a fresh state).
pub fn given<D: Decider>(events: impl IntoIterator<Item = D::Event>) -> Given<D> {
    let events: Vec<D::Event> = events.into_iter().collect();
    let mut state = D::State::default();
    for e in &events {
        D::evolve(&mut state, e);
    }
    Given { events, state }
}

/// A command decided against the given state.
pub struct When<D: Decider> {
    given: Given<D>,
    outcome: Result<Vec<D::Event>, D::Error>,
}

impl<D: Decider> Debug for Given<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Given({} events)", self.events.len())
    }
}

impl<D: Decider> Debug for When<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outcome = match &self.outcome {
            Ok(events) => format!("{} events", events.len()),
            Err(_) => "refused".to_string(),
        };
        write!(f, "When({:?} → {outcome})", self.given)
    }
}

impl<D> Given<D>
where
    D: Decider,
{
    /// The state folded from the given events.
    pub fn state(&self) -> &D::State {
        &self.state
    }

    /// Decides `command` against the given state.
    pub fn when(self, command: D::Command) -> When<D> {
        let outcome = D::decide(&self.state, &command);
        When {
            given: self,
            outcome,
        }
    }
}

impl<D> When<D>
where
    D: Decider,
    D::State: PartialEq + Debug + Clone,
    D::Event: PartialEq + Debug + Clone,
    D::Error: Refusal + Debug,
{
    /// Asserts the command yields exactly `expected`; returns the new state after checking
    /// that replaying given + new events rebuilds it.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) -> D::State {
        let expected: Vec<D::Event> = expected.into_iter().collect();
        self.state_after(|events| assert_eq!(events, &expected[..], "events"))
    }

    /// Asserts the command is accepted, lets `check` look at its events, and returns the
    /// new state (replay checked as in [`When::then`]).
    #[track_caller]
    pub fn then_events(self, check: impl FnOnce(&[D::Event])) -> D::State {
        self.state_after(check)
    }

    /// Asserts the command is refused with `reason` (and so appends nothing).
    #[track_caller]
    pub fn then_refused(self, reason: &str) -> D::Error {
        match self.outcome {
            Ok(events) => panic!("expected a refusal ({reason}), got events {events:?}"),
            Err(e) => {
                assert_eq!(e.reason(), reason, "refusal reason of {e:?}");
                e
            }
        }
    }

    #[track_caller]
    fn state_after(self, check: impl FnOnce(&[D::Event])) -> D::State {
        let events = match self.outcome {
            Ok(events) => events,
            Err(e) => panic!("expected events, the command was refused: {e:?}"),
        };
        check(&events);
        let mut live = self.given.state.clone();
        for e in &events {
            D::evolve(&mut live, e);
        }
        let mut replayed = D::State::default();
        for e in self.given.events.iter().chain(&events) {
            D::evolve(&mut replayed, e);
        }
        assert_eq!(
            replayed, live,
            "replaying the log does not rebuild the live state"
        );
        live
    }
}

/// The shared fixtures: one base campaign that tests adjust with struct update syntax
/// (`Campaign { salt: …, ..fixtures::campaign() }`), so each test states only what it
/// changes.
pub mod fixtures {
    use crate::model::{
        Campaign, CampaignId, DeviceId, Duration, Setting, SettingOp, TargetSet, Timestamp, Value,
    };
    use crate::schedule::CareSchedule;

    /// The fixtures' issue time: 2026-05-28T20:26:40Z.
    pub const T0: Timestamp = Timestamp(1_780_000_000_000);

    /// `T0` plus `ms` milliseconds.
    pub fn at(ms: u64) -> Timestamp {
        T0.plus(Duration(ms))
    }

    /// A device id (panics on an invalid one: fixtures are literals).
    pub fn dev(id: &str) -> DeviceId {
        DeviceId::new(id).expect("fixture device ids are valid")
    }

    /// `n` settings replacing `./Vendor/Node{i}/Value` with the text `value-{i}`: the
    /// many-setting campaign of the benchmarks and the footprint test.
    pub fn node_settings(n: usize) -> Vec<Setting> {
        (0..n)
            .map(|i| {
                Setting::replace(
                    format!("./Vendor/Node{i}/Value"),
                    Value::Str(format!("value-{i}").into()),
                )
            })
            .collect()
    }

    /// A 4-setting APN campaign `apn-2026-11` revision 1 issued at [`T0`], targeting all
    /// devices, with the default schedule.
    pub fn campaign() -> Campaign {
        Campaign {
            id: CampaignId::new("apn-2026-11").expect("valid id"),
            revision: 1,
            issued_at: T0,
            salt: *b"0123456789abcdef",
            targets: TargetSet::All,
            settings: vec![
                Setting::replace("./AP/Default/APN", Value::Str("internet.example".into())),
                Setting::replace("./AP/Default/Auth", Value::Str("pap".into())),
                Setting::replace("./Proxy/Port", Value::Int(8080)),
                Setting {
                    op: SettingOp::Exec,
                    uri: "./Vendor/Reload".into(),
                    value: Value::Null,
                },
            ],
            schedule: CareSchedule::default(),
        }
    }

    /// `c`'s body (format 2) with its settings left out and their count claiming `count`
    /// (a bincode varint: 0xFD, then a u64): a hostile length prefix for decoders to refuse
    /// without reserving what it claims.
    pub fn body_claiming_settings(c: &Campaign, count: u64) -> Vec<u8> {
        use crate::codec::encode;
        let mut body = Vec::new();
        body.extend(encode(&c.id).expect("encodes"));
        body.extend(encode(&c.revision).expect("encodes"));
        body.extend(encode(&c.issued_at).expect("encodes"));
        body.extend(encode(&c.salt).expect("encodes"));
        body.extend(encode(&c.targets).expect("encodes"));
        body.push(0xfd);
        body.extend(count.to_le_bytes());
        body.extend(encode(&c.schedule).expect("encodes"));
        body
    }
}
