//! `nis2hub seed`, which the load kit compares register sizes with: the history reaches as far
//! back as asked, spread evenly, and what it writes is what the service would have stored (the
//! audit chain verifies, the feed's numbers run on without a gap).

mod common;
use chrono::{TimeDelta, Utc};
use common::{count, Ctx};
use diesel::prelude::*;
use nis2hub::schema::{events, incidents};

/// Days before now of each seeded incident's `aware_at`, oldest first.
fn ages_in_days(ctx: &Ctx) -> Vec<i64> {
    let mut conn = ctx.state.pool.get().unwrap();
    let now = Utc::now().naive_utc();
    incidents::table
        .select(incidents::aware_at)
        .order(incidents::aware_at.asc())
        .load::<chrono::NaiveDateTime>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|t| (now - t).num_days())
        .collect()
}

fn seed(ctx: &Ctx, entities: usize, incidents: u64, history_days: u32) -> nis2hub::seed::Seeded {
    let mut conn = ctx.state.pool.get().unwrap();
    nis2hub::seed::seed(
        &mut conn,
        &ctx.state.config.rules,
        entities,
        incidents,
        7,
        history_days,
    )
    .expect("seed")
}

#[test]
fn the_history_reaches_as_far_back_as_asked_and_is_spread_evenly() {
    let ctx = Ctx::new();
    let seeded = seed(&ctx, 3, 43, 4000);
    assert_eq!(seeded.entity_ids.len(), 3);
    assert_eq!(seeded.incidents, 43);
    let ages = ages_in_days(&ctx);
    assert_eq!(ages.len(), 43);
    // 40 copies, the oldest a day before the seed and 4000 days further back, then one every
    // 100 days; the 3 templates were reported through the service just now.
    assert!((4000..=4001).contains(&ages[0]), "oldest: {ages:?}");
    let older_than_2000 = ages.iter().filter(|&&a| a > 2000).count();
    assert!((19..=21).contains(&older_than_2000), "{ages:?}");
    let recent = ages.iter().filter(|&&a| a == 0).count();
    assert_eq!(recent, 3, "the templates: {ages:?}");
    for pair in ages[..40].windows(2) {
        let step = pair[0] - pair[1];
        assert!((99..=101).contains(&step), "even spread: {ages:?}");
    }
}

#[test]
fn the_default_history_is_three_years() {
    let ctx = Ctx::new();
    seed(&ctx, 2, 12, nis2hub::seed::DEFAULT_HISTORY_DAYS);
    let ages = ages_in_days(&ctx);
    let expected = i64::from(nis2hub::seed::DEFAULT_HISTORY_DAYS);
    assert_eq!(expected, 3 * 365);
    assert!((expected..=expected + 1).contains(&ages[0]), "{ages:?}");
}

#[test]
fn what_the_seed_writes_keeps_the_audit_chain_and_the_feed_whole() {
    let ctx = Ctx::new();
    let seeded = seed(&ctx, 2, 30, 200);
    let mut conn = ctx.state.pool.get().unwrap();
    let chain = nis2hub::audit::verify(&mut conn).unwrap();
    assert!(chain.valid, "{:?}", chain.first_broken.map(|b| b.reason));
    assert_eq!(chain.checked, count(&ctx, "audit_log"));
    let seqs: Vec<i64> = events::table
        .select(events::seq)
        .order(events::seq.asc())
        .load(&mut conn)
        .unwrap();
    let gap_free: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, gap_free);
    assert_eq!(seeded.last_seq, seqs.len() as i64);
    // Nothing lies before the history's start (200 days and the day before the seed).
    let before = Utc::now().naive_utc() - TimeDelta::days(202);
    let older: i64 = incidents::table
        .filter(incidents::aware_at.lt(before))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(older, 0);
}
