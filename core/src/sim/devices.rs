//! The device phase of a broadcast: every device that hears it receives, applies (with its
//! injury) and evaluates. Nothing a device does here touches another device, so with no
//! device logs to keep ([`Faults::logs_devices`](super::Faults)) the fleet is split over
//! [`FleetConfig::threads`] threads; the world takes their results in device order, so the
//! run is the same — byte for byte — whatever the thread count.

use std::ops::Range;

use super::fate::*;
use super::{FleetConfig, SimError, Transport, device_id};
use crate::decider::Decider;
use crate::device::{Device, DeviceCommand, DeviceState, Phase};
use crate::model::{Duration, Timestamp, ValidCampaign};
use crate::report::{ApplyResult, Verify};

/// What provisioning a device reads, the same for every device of one broadcast: shared by
/// the threads of the device phase.
#[derive(Debug, Clone)]
pub(super) struct Ctx<'a> {
    pub(super) cfg: &'a FleetConfig,
    /// The campaign's current revision.
    pub(super) campaign: ValidCampaign,
    /// Broadcasts so far, less one: the fate draws of the first broadcast use 0, a
    /// revision's draw afresh.
    pub(super) round: u64,
    pub(super) fate: Fate,
}

impl Ctx<'_> {
    /// Whether device `i` sends its reports as Generic Alerts in a DM session (else as
    /// binary reports), by the configured transport.
    pub(super) fn uses_alerts(&self, i: u64) -> bool {
        match self.cfg.transport {
            Transport::Binary => false,
            Transport::Alert => true,
            Transport::Mixed => self.fate.u64(TAG_TRANSPORT, i, 0) % 2 == 1,
        }
    }

    /// Device `i`'s clock offset in ms (within ± the configured skew).
    fn skew(&self, i: u64) -> i64 {
        let s = self.cfg.faults.clock_skew.as_millis();
        if s == 0 {
            return 0;
        }
        (self.fate.u64(TAG_SKEW, i, 0) % (2 * s + 1)) as i64 - s as i64
    }

    /// True time `t` on device `i`'s clock.
    pub(super) fn dev_time(&self, i: u64, t: Timestamp) -> Timestamp {
        Timestamp(t.0.saturating_add_signed(self.skew(i)))
    }

    /// Device `i`'s clock reading `t` in true time.
    pub(super) fn true_time(&self, i: u64, t: Timestamp) -> Timestamp {
        Timestamp(t.0.saturating_add_signed(-self.skew(i)))
    }

    /// What device `i`'s apply of the current revision returns (its injury, if it fails),
    /// and how long after receipt it finishes.
    pub(super) fn apply_results(&self, i: u64) -> (Vec<ApplyResult>, Duration) {
        let c = &self.campaign;
        let mut results = vec![
            ApplyResult {
                verify: Verify::Match,
                ..ApplyResult::OK
            };
            c.settings.len()
        ];
        let mut after = Duration::from_secs(2);
        if self.fate.unit(TAG_FAIL, i, self.round) < self.cfg.fail_rate_of(i) {
            let r = self.fate.u64(TAG_MODE, i, self.round);
            let modes = injuries(c, r);
            let pick = modes.get((r % modes.len().max(1) as u64) as usize).copied();
            match pick {
                Some(Injury::Status { index, code }) => results[index].status = code,
                Some(Injury::Mismatch { index }) => results[index].verify = Verify::Mismatch,
                Some(Injury::Truncate { keep }) => results.truncate(keep),
                Some(Injury::Late { after: late }) => after = late,
                None => {}
            }
        }
        (results, after)
    }

    /// How device `i` meets the broadcast sent at `t`: it misses it (and checks in at the
    /// instant returned as `Err`), or receives it at the instant returned as `Ok`.
    pub(super) fn hears(&self, i: u64, t: Timestamp) -> Result<Timestamp, Timestamp> {
        let cfg = self.cfg;
        if self.fate.unit(TAG_LOSS, i, self.round) < cfg.loss {
            let every = cfg.checkin_interval.as_millis().max(1);
            return Err(t.plus(Duration(self.fate.u64(TAG_CHECKIN, i, self.round) % every)));
        }
        Ok(t.plus(Duration(self.fate.u64(TAG_RECEIVE, i, self.round) % 30_000)))
    }
}

/// Who takes a device step: the world (device logs, power cuts, reboots) or, in the
/// parallel device phase, [`Quiet`].
pub(super) trait Steps {
    /// Device `i` takes `cmd`; `Ok(false)` when a power cut lost the step. A refusal is a
    /// bug in the simulation.
    fn device(
        &mut self,
        i: u64,
        state: &mut DeviceState,
        what: &'static str,
        cmd: DeviceCommand,
    ) -> Result<bool, SimError>;
}

/// Device steps with no log kept and no power cut: counted, to be added to the world's
/// counts in device order.
#[derive(Debug, Default)]
pub(super) struct Quiet {
    pub(super) steps: u64,
    pub(super) events: u64,
}

impl Steps for Quiet {
    fn device(
        &mut self,
        i: u64,
        state: &mut DeviceState,
        what: &'static str,
        cmd: DeviceCommand,
    ) -> Result<bool, SimError> {
        self.steps += 1;
        let events = Device::handle(state, &cmd).map_err(|e| refused(i, what, &e))?;
        self.events += events.len() as u64;
        Ok(true)
    }
}

/// Device `i` refused `what`: a bug in the simulation, named.
pub(super) fn refused(i: u64, what: &'static str, e: &crate::device::DeviceError) -> SimError {
    SimError::Device {
        device: device_id(i).to_string(),
        what,
        reason: e.to_string(),
    }
}

/// Receive, apply (with the device's injury), evaluate, at true time `received_at`.
/// Returns the state and whether the device holds the payload (a power cut while
/// receiving loses it).
pub(super) fn provision(
    ctx: &Ctx<'_>,
    steps: &mut impl Steps,
    i: u64,
    mut s: DeviceState,
    received_at: Timestamp,
) -> Result<(DeviceState, bool), SimError> {
    let c = &ctx.campaign;
    let at = ctx.dev_time(i, received_at);
    let receive = DeviceCommand::Receive {
        campaign: c.clone(),
        device: device_id(i),
        groups: vec![],
        at,
    };
    if !steps.device(i, &mut s, "receive", receive)? {
        return Ok((s, false));
    }
    let (results, after) = ctx.apply_results(i);
    let applied_at = at.plus(after);
    let evaluate_at = at.plus(c.schedule.evaluate_after);
    if applied_at < evaluate_at {
        let cmd = DeviceCommand::RecordApplied {
            results,
            at: applied_at,
        };
        if !steps.device(i, &mut s, "record-applied", cmd)? {
            // Cut mid-apply: the device takes it up again when it restarts.
            return Ok((s, true));
        }
    }
    steps.device(i, &mut s, "tick", DeviceCommand::Tick { now: evaluate_at })?;
    Ok((s, true))
}

/// The state a device holds when the broadcast reaches it, if any.
pub(super) type Held = Option<Box<DeviceState>>;

/// How one device met a broadcast, worked out off the world's thread.
#[derive(Debug)]
pub(super) enum Met {
    /// It missed the broadcast and checks in at `check_in`; it still holds what it held.
    Missed { check_in: Timestamp, held: Held },
    /// It received the payload at `received_at` and provisioned it with `steps`.
    Provisioned {
        received_at: Timestamp,
        state: Box<DeviceState>,
        steps: Quiet,
    },
    /// Healthy and done, with nothing kept: its state was dropped where it was computed.
    Healthy { sampled: bool, steps: Quiet },
}

/// The devices `range` meet the broadcast sent at `t`, each from the state `held` gives
/// it (devices that hold one are taken up by the world itself), on `threads` threads. The
/// results are in device order.
pub(super) fn meet(
    ctx: &Ctx<'_>,
    range: Range<u64>,
    t: Timestamp,
    threads: usize,
    held: &mut dyn FnMut(u64) -> Held,
) -> Vec<Result<Met, SimError>> {
    let helds: Vec<Held> = range.clone().map(held).collect();
    let one = |ctx: &Ctx<'_>, i: u64, before: Held| -> Result<Met, SimError> {
        let received_at = match ctx.hears(i, t) {
            Ok(at) => at,
            Err(check_in) => {
                return Ok(Met::Missed {
                    check_in,
                    held: before,
                });
            }
        };
        let fresh = before.is_none();
        let mut steps = Quiet::default();
        let before = before.map_or_else(DeviceState::default, |b| *b);
        let (state, _) = provision(ctx, &mut steps, i, before, received_at)?;
        let settled = !matches!(state.phase, Phase::Applying | Phase::Evaluating);
        if fresh && settled && state.report.is_none() && state.findings.is_empty() {
            return Ok(Met::Healthy {
                sampled: state.sampled,
                steps,
            });
        }
        Ok(Met::Provisioned {
            received_at,
            state: Box::new(state),
            steps,
        })
    };
    let mut helds = helds.into_iter();
    let parts: Vec<(Range<u64>, Vec<Held>)> = split(range, threads)
        .into_iter()
        .map(|r| {
            let h = helds.by_ref().take((r.end - r.start) as usize).collect();
            (r, h)
        })
        .collect();
    in_parallel(parts, |(r, h)| {
        // Each thread its own copy of the campaign: every device's command, event and
        // state clone it, and a shared reference count would bounce between the cores.
        let ctx = Ctx {
            campaign: ctx.campaign.unshared(),
            ..ctx.clone()
        };
        r.zip(h).map(|(i, h)| one(&ctx, i, h)).collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The success sample's profile over the devices `range` of `campaign` (how many are
/// sampled and where their slots fall), counted on `threads` threads.
pub(super) fn count_sampled(
    campaign: &ValidCampaign,
    range: Range<u64>,
    threads: usize,
) -> crate::server::SampleProfile {
    let count = |r: Range<u64>| {
        let mut buf = [0u8; super::ID_BUF];
        let mut p = crate::server::SampleProfile::default();
        for i in r {
            p.add(campaign, super::device_id_bytes(i, &mut buf));
        }
        p
    };
    let mut total = crate::server::SampleProfile::default();
    for p in in_parallel(split(range, threads), count) {
        total.merge(&p);
    }
    total
}

/// `range` cut into at most `parts` contiguous ranges of (nearly) equal length, in order.
fn split(range: Range<u64>, parts: usize) -> Vec<Range<u64>> {
    let n = range.end - range.start;
    let per = n.div_ceil((parts.max(1) as u64).min(n.max(1))).max(1);
    (range.start..range.end)
        .step_by(per as usize)
        .map(|start| start..(start + per).min(range.end))
        .collect()
}

/// `f` of every part, each part on a thread of its own (a single part on this thread);
/// the results in part order. A panic in a part is raised again here.
fn in_parallel<P: Send, T: Send>(parts: Vec<P>, f: impl Fn(P) -> T + Sync) -> Vec<T> {
    if parts.len() <= 1 {
        return parts.into_iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| scope.spawn(move || f(p)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_range_splits_into_contiguous_parts_in_order() {
        assert_eq!(split(5..15, 3), vec![5..9, 9..13, 13..15]);
        assert_eq!(split(0..2, 4), vec![0..1, 1..2]);
        assert_eq!(split(7..8, 1), vec![7..8]);
        assert!(split(3..3, 2).is_empty());
    }
}
