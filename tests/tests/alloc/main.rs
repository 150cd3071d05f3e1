//! Measurements that need the process to themselves: a counting allocator (dhat) sees every
//! thread's allocations and `/proc/self/task` counts every thread, so these checks run one
//! after another in their own binary with no test harness beside them.
//!
//! `cargo test -p devcare-integration --test alloc` runs them; `-- --nocapture` is not
//! needed (the figures are printed). `docs/performance.md` quotes them from a release
//! build: `cargo test --release -p devcare-integration --test alloc`.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

mod device_footprint;
mod payload_alloc;
mod report_alloc;

type Check = (&'static str, fn());

const CHECKS: [Check; 3] = [
    (
        "device_footprint::a_device_takes_a_payload_in_a_small_heap_and_its_file_store_starts_no_thread",
        device_footprint::a_device_takes_a_payload_in_a_small_heap_and_its_file_store_starts_no_thread,
    ),
    (
        "payload_alloc::a_payload_claiming_200000_settings_is_refused_without_reserving_them",
        payload_alloc::a_payload_claiming_200000_settings_is_refused_without_reserving_them,
    ),
    (
        "report_alloc::a_report_claiming_a_million_findings_is_refused_without_allocating_them",
        report_alloc::a_report_claiming_a_million_findings_is_refused_without_allocating_them,
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test NAME` passes a filter; test runners list the checks first (`--list`, as
    // libtest answers it) and then run one at a time (`NAME --exact`).
    let filter: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let exact = args.iter().any(|a| a == "--exact");
    let ignored_only = args.iter().any(|a| a == "--ignored");
    let chosen = |name: &str| {
        filter.is_empty()
            || filter
                .iter()
                .any(|f| if exact { name == *f } else { name.contains(f) })
    };
    if args.iter().any(|a| a == "--list") {
        if !ignored_only {
            for (name, _) in CHECKS {
                if chosen(name) {
                    println!("{name}: test");
                }
            }
        }
        return;
    }
    if ignored_only {
        return; // no check is ignored
    }
    let mut ran = 0;
    for (name, check) in CHECKS {
        if !chosen(name) {
            continue;
        }
        println!("check {name} ...");
        // A failed check panics: the process exits non-zero and names it.
        check();
        println!("check {name} ... ok");
        ran += 1;
    }
    println!("{ran} checks passed");
}
