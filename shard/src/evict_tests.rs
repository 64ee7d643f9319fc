use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;
use crate::db::Value;

fn db_with(n: usize) -> Db {
    let mut db = Db::new();
    db.lru_clock = 1000;
    for i in 0..n {
        db.set(format!("k{i}").as_bytes(), Value::str(b"v"), false);
    }
    db
}

#[test]
fn lru_picks_the_idlest_sampled_key() {
    let mut db = db_with(50);
    // Every key touched recently except one, which has been idle longest.
    db.lru_clock = 2000;
    for i in 0..50 {
        if let Some(e) = db.get_mut(format!("k{i}").as_bytes(), 0) {
            let _ = e;
        }
    }
    db.lru_clock = 1000;
    db.set(b"old", Value::str(b"v"), false);
    db.lru_clock = 2000;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut pool = Pool::default();
    // Sampling everything many times over must surface the idlest key first.
    for _ in 0..40 {
        pool.populate(&db, MaxmemoryPolicy::AllkeysLru, 10, &mut rng);
    }
    assert!(pool.len() <= POOL_SIZE);
    assert_eq!(pool.pop_best(&db, false).as_deref(), Some(&b"old"[..]));
}

#[test]
fn volatile_ttl_picks_the_soonest_expiry() {
    let mut db = db_with(30);
    for i in 0..30 {
        db.set_expire(format!("k{i}").as_bytes(), 1_000_000 + i as i64 * 10);
    }
    db.set_expire(b"k17", 5);
    let mut rng = SmallRng::seed_from_u64(3);
    let mut pool = Pool::default();
    for _ in 0..40 {
        pool.populate(&db, MaxmemoryPolicy::VolatileTtl, 5, &mut rng);
    }
    assert_eq!(pool.pop_best(&db, true).as_deref(), Some(&b"k17"[..]));
}

#[test]
fn volatile_policies_ignore_persistent_keys() {
    let mut db = db_with(100);
    db.set_expire(b"k42", 1_000_000);
    let mut rng = SmallRng::seed_from_u64(1);
    for policy in [
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::VolatileLfu,
        MaxmemoryPolicy::VolatileTtl,
    ] {
        let mut pool = Pool::default();
        pool.populate(&db, policy, 5, &mut rng);
        assert_eq!(pool.pop_best(&db, true).as_deref(), Some(&b"k42"[..]));
        assert!(pool.pop_best(&db, true).is_none());
    }
    // No volatile key at all: nothing to sample.
    db.persist(b"k42");
    let mut pool = Pool::default();
    pool.populate(&db, MaxmemoryPolicy::VolatileLru, 5, &mut rng);
    assert!(pool.is_empty());
}

#[test]
fn pool_drops_keys_deleted_meanwhile() {
    let mut db = db_with(3);
    let mut rng = SmallRng::seed_from_u64(9);
    let mut pool = Pool::default();
    for _ in 0..20 {
        pool.populate(&db, MaxmemoryPolicy::AllkeysLru, 3, &mut rng);
    }
    assert_eq!(pool.len(), 3);
    db.remove(b"k0");
    db.remove(b"k1");
    db.remove(b"k2");
    assert!(pool.pop_best(&db, false).is_none());
    assert!(pool.is_empty());
}

#[test]
fn idle_time_survives_clock_wrap() {
    assert_eq!(idle(10, 4), 6);
    assert_eq!(idle(5, 0xFF_FFFF - 5), 10);
}

#[test]
fn tenacity_budget() {
    assert_eq!(time_limit(10), Some(Duration::from_micros(500)));
    assert_eq!(time_limit(0), Some(Duration::ZERO));
    assert!(time_limit(50).is_some_and(|d| d > Duration::from_millis(100)));
    assert_eq!(time_limit(100), None);
}

#[test]
fn sparse_tables_are_shrunk() {
    let mut db = db_with(1000);
    for i in 10..1000 {
        db.remove(format!("k{i}").as_bytes());
    }
    assert!(db.shrink_if_sparse(false));
    // Now tight: only an explicit request shrinks again, and then there is nothing to do.
    assert!(!db.shrink_if_sparse(false));
    assert_eq!(db.len(), 10);
}
