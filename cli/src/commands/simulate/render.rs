//! The printed result of one run: text or JSON.

use devcare::server::Fallback;
use devcare::sim::FleetConfig;
use serde_json::json;

use std::fmt::Write as _;

use super::store::{Run, peak_rss_mb};
use crate::error::Result;
use crate::printer::Printer;

pub(super) fn report(printer: Printer, cfg: &FleetConfig, run: &Run, wall_s: f64) -> Result<()> {
    let out = &run.out;
    let st = run.state.stats();
    let sent = out.reports_sent.max(1);
    let reduction = out.devices as f64 / sent as f64;
    let window_s = cfg.campaign.schedule.report.window.as_millis() / 1000;
    let converged_s = out.converged_after.as_millis() as f64 / 1e3;
    let rss = peak_rss_mb();
    let c = &cfg.campaign;
    let revision = run
        .state
        .campaign
        .as_ref()
        .map_or(c.revision, |c| c.revision);
    let tl = &run.state.tally;
    let silent = run
        .state
        .sampled_targets
        .map(|n| n.saturating_sub(tl.sampled_reporters + tl.sampled_behind + tl.probes));
    let text = || {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "campaign {} rev {}: {} devices, {:.2}% injected failures, {:.2}% broadcast loss, seed {}",
            c.id,
            revision,
            out.devices,
            cfg.fail_rate * 100.0,
            cfg.loss * 100.0,
            cfg.seed
        );
        for (rev, e) in &run.state.earlier {
            let _ = writeln!(
                t,
                "  revision {rev} replaced after {}: {} failure reports, {} in care (stopped), {} recovered",
                cfg.revise_at.map_or_else(String::new, |d| d.to_string()),
                e.failure_reports,
                e.in_care,
                e.recovered
            );
        }
        let _ = writeln!(t, " truth (what the simulator injected)");
        let _ = writeln!(t, "  failed              {:>10}", out.failed);
        let _ = writeln!(t, "  missed broadcast    {:>10}", out.missed);
        if !out.faults.is_empty() {
            let kinds: Vec<String> = out.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(t, "  faults injected     {}", kinds.join(", "));
        }
        let _ = writeln!(t, " server (what it knows and did)");
        let _ = writeln!(
            t,
            "  broadcast payload   {:>10} bytes, signed and verified",
            out.payload_bytes
        );
        let _ = writeln!(
            t,
            "  found behind        {:>10}   (by check-in or fallback poll)",
            st.checkins_behind
        );
        let _ = writeln!(
            t,
            "  reports sent        {:>10}   ({} failures + {} success probes taken{}; every-device design: {}, {:.0}x more)",
            out.reports_sent,
            st.failure_reports,
            st.success_probes,
            match out
                .reports_sent
                .saturating_sub(st.failure_reports + st.success_probes)
            {
                0 => String::new(),
                n => format!(", {n} resends and refused"),
            },
            out.devices,
            reduction
        );
        let _ = writeln!(
            t,
            "  peak reports/min    {:>10}   over a {} window",
            out.peak_reports_per_minute(),
            c.schedule.report.window
        );
        if !out.reports_rejected.is_empty() {
            let refused: Vec<String> = out
                .reports_rejected
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let _ = writeln!(t, "  reports refused     {}", refused.join(", "));
        }
        let _ = writeln!(t, "  care dispatched     {:>10}", out.care_dispatched);
        let _ = writeln!(t, "  recovered           {:>10}", st.recovered);
        let _ = writeln!(
            t,
            "  escalated           {:>10}",
            st.escalated + st.abandoned
        );
        let _ = writeln!(t, "  presumed OK         {:>10}", st.presumed_ok);
        if let Some((bound, truth)) = out.settlement {
            let _ = writeln!(
                t,
                "  of them maybe not   {:>10}   95% bound at settlement: {} may have missed the payload, {} failed unheard (truth {truth})",
                bound.total(),
                bound.missed,
                bound.unheard,
            );
        }
        if let Some(cv) = st.coverage {
            let _ = writeln!(
                t,
                "  coverage estimate   {:>10.4}   95% CI [{:.4}, {:.4}] ({}; truth {:.4})",
                cv.estimate,
                cv.lo,
                cv.hi,
                cv.basis.name(),
                (out.devices - out.missed) as f64 / out.devices as f64
            );
            if let Some(n) = silent {
                let _ = writeln!(
                    t,
                    "  silent sampled      {:>10}   (no probe, report or check-in: poll them)",
                    n
                );
            }
        }
        if let Some((r, after)) = out.fallback.degraded {
            let f = &out.fallback;
            let _ = writeln!(
                t,
                "  BroadcastDegraded   after {after}: server's reach {:.4} [{:.4}, {:.4}] below floor {} (truth {:.4})",
                r.estimate,
                r.lo,
                r.hi,
                cfg.coverage_floor.map_or(0.0, |p| p.floor),
                f.true_reach.unwrap_or(0.0)
            );
            let how = match cfg.coverage_floor.map(|p| p.fallback) {
                Some(Fallback::Rebroadcast) if f.rebroadcast => "rebroadcast".to_string(),
                Some(Fallback::Unicast { per_minute }) => format!(
                    "polled {} silent targets by unicast at {per_minute}/min",
                    f.unicast_sent
                ),
                Some(Fallback::Repair { per_minute }) => format!(
                    "repair: polled {} silent targets (a random sample) at {per_minute}/min{}, {:.2} DM sessions per device found",
                    f.unicast_sent,
                    if f.rebroadcast {
                        ", then rebroadcast"
                    } else {
                        ""
                    },
                    f.unicast_sent as f64 / f.reached_missed.max(1) as f64
                ),
                _ => "none run".to_string(),
            };
            let _ = writeln!(
                t,
                "  fallback            {how}: {} lacked the payload and got it as care{}",
                f.reached_missed,
                f.finished_after
                    .map_or_else(String::new, |d| format!(", last step after {d}"))
            );
        }
        if out.breaker_pauses > 0 {
            let _ = writeln!(
                t,
                "  abort threshold     {:>10}   pause(s), each overridden by the operator an hour later",
                out.breaker_pauses
            );
        }
        if !out.group_pauses.is_empty() {
            let _ = writeln!(
                t,
                "  group thresholds    {:>10}   group pause(s) ({}), each overridden by the operator an hour later",
                out.group_pauses.len(),
                out.group_pauses.join(", ")
            );
        }
        if let Some(b) = st.breaker {
            let _ = writeln!(
                t,
                "  care PAUSED by the abort threshold since {}: {} failures of {} expected > {}",
                human(b.since.since(cfg.campaign.issued_at)),
                b.reason.failure_reports,
                b.reason.targeted,
                b.reason.threshold
            );
        }
        if st.operator_paused {
            let _ = writeln!(t, "  care PAUSED by an operator");
        }
        let _ = writeln!(t, "  unresolved          {:>10}", out.unresolved);
        if st.paused {
            let _ = writeln!(t, "  converged           {:>10}   (care is paused)", "no");
        } else {
            let _ = writeln!(
                t,
                "  converged after     {:>10}   (the last case resolved)",
                human(out.converged_after)
            );
        }
        if out.gave_up_reporting > 0 {
            let _ = writeln!(
                t,
                "  gave up unheard     {:>10}   (failed devices whose every report went unacknowledged)",
                out.gave_up_reporting
            );
        }
        let replay = match run.replay_identical {
            Some(true) => ", reopened and replayed: identical",
            _ => "",
        };
        let _ = writeln!(
            t,
            "  events logged       {:>10}   ({}{replay})",
            out.events_logged, run.log_location
        );
        let _ = writeln!(
            t,
            "  wall time           {:>9.2}s, peak RSS {:.0} MB, device phase on {} thread{}",
            wall_s,
            rss,
            cfg.threads,
            if cfg.threads == 1 { "" } else { "s" }
        );
        t
    };
    printer.result(text, || {
        json!({
            "revision": revision,
            "earlier_revisions": run.state.earlier.iter().map(|(rev, e)| json!({
                "revision": rev,
                "failure_reports": e.failure_reports,
                "in_care": e.in_care,
                "recovered": e.recovered,
            })).collect::<Vec<_>>(),
            "reports_rejected": out.reports_rejected,
            "care_timed_out": st.care_timed_out,
            "devices": out.devices,
            "failed": out.failed,
            "missed": out.missed,
            "sampled": out.sampled,
            "reports_sent": out.reports_sent,
            "reports_accepted": out.reports_accepted,
            "baseline_reports": out.devices,
            "report_reduction": reduction,
            "peak_reports_per_min": out.peak_reports_per_minute(),
            "window_s": window_s,
            "payload_bytes": out.payload_bytes,
            "report_bytes": out.report_bytes,
            "care_dispatched": out.care_dispatched,
            "recovered": st.recovered,
            "escalated": st.escalated,
            "abandoned": st.abandoned,
            "presumed_ok": st.presumed_ok,
            "presumed_bound_at_settlement": out.settlement.map(|(b, _)| json!({"missed": b.missed, "unheard": b.unheard, "total": b.total()})),
            "wrongly_presumed_at_settlement": out.settlement.map(|(_, truth)| truth),
            "checkins_behind": st.checkins_behind,
            "paused": st.paused,
            "operator_paused": st.operator_paused,
            "breaker_pauses": out.breaker_pauses,
            "group_pauses": out.group_pauses,
            "coverage_estimate": st.coverage.map(|c| c.estimate),
            "coverage_ci95": st.coverage.map(|c| [c.lo, c.hi]),
            "coverage_basis": st.coverage.map(|c| c.basis.name()),
            "coverage_truth": (out.devices - out.missed) as f64 / out.devices as f64,
            "sampled_targets": run.state.sampled_targets,
            "silent_sampled": silent,
            "coverage_floor": cfg.coverage_floor.map(|p| p.floor),
            "fallback": cfg.coverage_floor.map(|p| p.fallback.name()),
            "broadcast_degraded": out.fallback.degraded.map(|(r, after)| json!({
                "server": {"reach": r.estimate, "ci95": [r.lo, r.hi], "basis": r.basis.name()},
                "after_s": after.as_millis() as f64 / 1e3,
                "truth": {"reach": out.fallback.true_reach},
            })),
            "fallback_rebroadcast": out.fallback.rebroadcast,
            "fallback_unicast_sent": out.fallback.unicast_sent,
            "fallback_reached_missed": out.fallback.reached_missed,
            "converged_after_s": converged_s,
            "truth": {
                "failed": out.failed,
                "missed": out.missed,
                "sampled": out.sampled,
                "coverage": (out.devices - out.missed) as f64 / out.devices as f64,
                "faults_injected": out.faults,
                "forged_refused": out.forged_rejected,
                "gave_up_reporting": out.gave_up_reporting,
                "reports_refused_for_good": out.reports_refused_for_good,
            },
            "server": {
                "failure_reports": st.failure_reports,
                "success_probes": st.success_probes,
                "found_behind": st.checkins_behind,
                "care_dispatched": st.care_dispatched,
                "care_timed_out": st.care_timed_out,
                "recovered": st.recovered,
                "escalated": st.escalated,
                "abandoned": st.abandoned,
                "presumed_ok": st.presumed_ok,
                "in_care": st.in_care,
                "coverage": st.coverage.map(|c| json!({
                    "estimate": c.estimate,
                    "ci95": [c.lo, c.hi],
                    "basis": c.basis.name(),
                })),
            },
            "unresolved": out.unresolved,
            "events_logged": out.events_logged,
            "server_cases": run.cases,
            "shards": run.sharded.map_or(1, |s| s.0),
            "workers": run.sharded.map_or(1, |s| s.1),
            "replay_identical": run.replay_identical,
            "wall_s": wall_s,
            "threads": cfg.threads,
            "peak_rss_mb": rss,
        })
    })
}

/// A duration to the second, largest units first: `2h32m20s`.
pub(super) fn human(d: devcare::Duration) -> String {
    let mut s = d.as_millis() / 1000;
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")] {
        if s >= unit {
            let _ = write!(out, "{}{name}", s / unit);
            s %= unit;
        }
    }
    out
}
