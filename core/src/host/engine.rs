//! The one decide → append → evolve loop ([`execute`]) and its one flush rule.
//!
//! Every host runs its commands through [`execute`]: the device agent, the care server
//! (one command or a group-committed batch), the sharded worker, and — through them — the
//! C API, the bindings and the fleet simulator.
//!
//! **The flush rule.** A call of [`execute`] that decided any event appends all of them in
//! one atomic append and flushes once ([`Engine::commit`]) before it returns `Ok`; a call
//! that decided none appends and flushes nothing. So every host call that changed state has
//! made it durable when it returns, and a batch costs one flush, not one per command.
//!
//! **What a failed commit leaves.** What the store holds, never more: if the append
//! failed, nothing of the batch; if the flush after it failed, the batch as read back from
//! the store (which may or may not have made it durable — the caller got the error and
//! must not act on it). A command decided after an earlier command of the same batch on the
//! same key saw that command's events (folded tentatively); such keys are rebuilt from the
//! store ([`Engine::rollback`]). Keys whose events were only pending are left as they were
//! before the call. A conflict (another writer moved a stream) rebuilds every key the batch
//! touched; so does any failure of a host that writes several stores.

use crate::store::StoreError;

/// A decider's states as one host holds them, keyed (one campaign stream, or a sharded
/// campaign as a whole), with the store their events go to.
pub(crate) trait Engine {
    /// Which state a command is decided against.
    type Key: PartialEq + Clone;
    /// What a caller asks for.
    type Command;
    /// What happened.
    type Event;
    /// Why a command was refused.
    type Error;

    /// The events `cmd` causes in `key`'s state, or why it is refused (changes nothing).
    fn decide(
        &mut self,
        key: &Self::Key,
        cmd: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds `event` into `key`'s state.
    fn evolve(&mut self, key: &Self::Key, event: &Self::Event);

    /// Appends every key's events in one atomic append, then flushes: durable on `Ok`.
    /// Each key's events follow its state's version as of before the batch; keys come in
    /// the order the batch first touched them.
    fn commit(&mut self, batch: &[(&Self::Key, Vec<&Self::Event>)]) -> Result<(), StoreError>;

    /// After a failed commit (`error`), for every key the batch touched: bring `key`'s
    /// state back to what the store holds. `folded` says whether the state holds events of
    /// the failed batch (then it must be rebuilt); a state without them is as it was before
    /// the call, unless the error says the store moved (a conflict) or wrote part of the
    /// batch (a host that writes several stores).
    fn rollback(&mut self, key: &Self::Key, folded: bool, error: &StoreError);
}

/// One command's answer: its events, or why it was refused (it appended nothing).
pub(crate) type Decided<E, Err> = Result<Vec<E>, Err>;

/// A batch's answers, one per command; `Err` when its commit failed.
pub(crate) type Answers<E, Err> = Result<Vec<Decided<E, Err>>, StoreError>;

/// Decides every command in order (each against the state the earlier ones left), commits
/// all their events at once ([`Engine::commit`]: one append, one flush) and folds them.
/// Returns one answer per command; `Err` when the commit failed, and then nothing of the
/// batch is kept (see the module doc). Events are moved, never cloned.
pub(crate) fn execute<En: Engine>(
    engine: &mut En,
    cmds: &[(En::Key, &En::Command)],
) -> Answers<En::Event, En::Error> {
    let mut answers: Vec<Decided<En::Event, En::Error>> = Vec::with_capacity(cmds.len());
    // Keys touched, in order of first touch: whether their state holds events folded before
    // the commit (a later command on the key needed to see them), and the answers whose
    // events are not folded yet.
    let mut touched: Vec<(&En::Key, bool, Vec<usize>)> = Vec::new();
    for (key, cmd) in cmds {
        let t = touched.iter().position(|(k, ..)| *k == key);
        if let Some(t) = t {
            // Earlier commands on this key: fold their events so this one sees them.
            let (_, dirty, unfolded) = &mut touched[t];
            for m in unfolded.drain(..) {
                if let Ok(events) = &answers[m] {
                    for e in events {
                        engine.evolve(key, e);
                    }
                    *dirty = true;
                }
            }
        }
        let decided = engine.decide(key, cmd);
        if let Ok(events) = &decided
            && !events.is_empty()
        {
            match t {
                Some(t) => touched[t].2.push(answers.len()),
                None => touched.push((key, false, vec![answers.len()])),
            }
        }
        answers.push(decided);
    }
    if !touched.is_empty() {
        let batch: Vec<(&En::Key, Vec<&En::Event>)> = touched
            .iter()
            .map(|(key, ..)| {
                let events = cmds
                    .iter()
                    .zip(&answers)
                    .filter(|((k, _), _)| k == *key)
                    .filter_map(|(_, a)| a.as_ref().ok())
                    .flatten()
                    .collect();
                (*key, events)
            })
            .collect();
        if let Err(e) = engine.commit(&batch) {
            for (key, folded, _) in &touched {
                engine.rollback(key, *folded, &e);
            }
            return Err(e);
        }
    }
    // Committed: fold what was not folded yet, in order.
    for (key, _, unfolded) in &touched {
        for &m in unfolded {
            if let Ok(events) = &answers[m] {
                for e in events {
                    engine.evolve(key, e);
                }
            }
        }
    }
    Ok(answers)
}
